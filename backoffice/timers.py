"""Timers are data, not jobs: every deadline is an indexed column, and one pass moves what is due.

``process_due_timers()`` is run every minute by a django-q2 schedule and by
``manage.py process_timers``. It is safe to run late (it catches up on
everything overdue), twice, or on many workers at once: each due row is locked
with ``SKIP LOCKED`` and re-checked under the lock, so each transition happens once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone


logger = logging.getLogger(__name__)


def process_due_timers(*, now: datetime | None = None) -> dict[str, int]:
    """One pass over every kind of deadline; returns how many rows each timer moved."""
    from backoffice.idempotency import idempotency_purge_expired
    from backoffice.webhooks import process_due_webhooks
    from fulfillment.timers import process_due_fulfillment
    from orders.timers import process_due_orders
    from payments.reminders import process_due_checkout_reminders
    from payments.timers import process_due_payments
    from returns.timers import process_due_reverse_flows

    now = now or timezone.now()
    counts = process_due_orders(now=now)
    counts.update(process_due_fulfillment(now=now))
    counts.update(process_due_payments(now=now))
    # After the order timers: reminds sellers of orders whose hold ended unpaid (batched per seller).
    counts.update(process_due_checkout_reminders(now=now))
    counts.update(process_due_reverse_flows(now=now))
    counts["idempotency_keys_purged"] = idempotency_purge_expired()
    # Keep this after every timer that moves orders, so the events they write go out in the same pass.
    counts.update(process_due_webhooks(now=now))
    if any(counts.values()):
        logger.info("timers: %s", counts)
    return counts
