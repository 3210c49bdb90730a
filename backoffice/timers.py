"""The timer pass: every app's deadlines, one after the other (timers are data, not jobs).

``process_due_timers()`` is run every minute by a django-q2 schedule and by
``manage.py process_timers``. Each app's ``timers.py`` owns its loops, all
built on ``core.timers.process_due``: it is safe to run late (it catches up on
everything overdue), twice, or on many workers at once, since each due row is
locked with ``SKIP LOCKED`` and re-checked under the lock.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from fulfillment.timers import process_due_fulfillment
from orders.timers import process_due_orders
from payments.timers import process_due_payments
from returns.timers import process_due_reverse_flows
from tiktok.timers import process_due_tiktok
from webhooks.timers import process_due_webhooks

logger = logging.getLogger(__name__)


def process_due_timers(*, now: datetime | None = None) -> dict[str, int]:
    """One pass over every kind of deadline; returns how many rows each timer moved."""
    now = now or timezone.now()
    counts = process_due_orders(now=now)
    counts.update(process_due_fulfillment(now=now))
    # After the order timers, so orders whose hold just ended are charged or remembered for a reminder.
    counts.update(process_due_payments(now=now))
    counts.update(process_due_reverse_flows(now=now))
    # TikTok: token refreshes, polls and event retries are leased here and run by tasks (no call under a lock).
    counts.update(process_due_tiktok(now=now))
    # Keep this after every timer that moves orders, so the events they write go out in the same pass.
    counts.update(process_due_webhooks(now=now))
    if any(counts.values()):
        logger.info("timers: %s", counts)
    return counts
