"""Emails to sellers about checkout (R13): a plain-text and an HTML body from ``templates/email/``.

* ``notify_auto_checkout_failed``: Auto Checkout stopped charging orders (sent after commit);
* the reminders of newly waiting orders and the daily digest are outbox rows
  (``payments.reminders``); ``payments.reminders.compose`` renders one when it is sent.

Rendering itself is ``accounts.emails``'s.
"""

from payments.notify.auto_checkout import notify_auto_checkout_failed
from payments.notify.waiting import WaitingOrders, waiting_orders

__all__ = ["WaitingOrders", "notify_auto_checkout_failed", "waiting_orders"]
