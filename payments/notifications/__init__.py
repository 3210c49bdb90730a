"""Emails to sellers about checkout (R13): a plain-text and an HTML body from ``templates/email/``.

* ``notify_auto_checkout_failed`` is the hook Auto Checkout calls (after
  commit) when it stops charging orders; keep its signature.
* The reminders of newly waiting orders and the daily digest are outbox rows
  (``payments.reminders``); ``payments.reminders.compose`` renders one when it is sent.
"""

from payments.notifications.auto_checkout import notify_auto_checkout_failed
from payments.notifications.emails import SellerMessage, portal_url, seller_message
from payments.notifications.waiting import WaitingOrders, waiting_orders

__all__ = [
    "SellerMessage",
    "WaitingOrders",
    "notify_auto_checkout_failed",
    "portal_url",
    "seller_message",
    "waiting_orders",
]
