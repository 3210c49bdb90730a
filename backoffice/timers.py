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

from backoffice.locks import lock_if_due

logger = logging.getLogger(__name__)


def process_due(
    *,
    model: type[models.Model],
    deadline: str,
    now: datetime,
    handle: Callable[[models.Model], object],
    batch_size: int | None = None,
    unless: Q | None = None,
    **due,
) -> int:
    """Apply ``handle`` to every row of ``model`` whose ``deadline`` is at or before ``now``.

    ``unless`` holds back rows that are due but must wait (e.g. an order with an
    open return does not complete): they are left out of the scan and checked
    again under the lock, and become due again once the condition clears.

    Rows are read in small keyset batches ordered by (deadline, pk), each locked
    and handled in its own transaction, so one failure neither blocks the rest
    nor leaves anything half-written; the failure is written to the row's
    ``timer_error`` (when it has one) and retried on the next pass.
    Returns the number of rows handled.
    """
    batch_size = batch_size or settings.TIMER_BATCH_SIZE
    still_due = {**due, f"{deadline}__lte": now}
    has_error_field = any(f.name == "timer_error" for f in model._meta.fields)
    handled, after = 0, None
    while True:
        query = model.objects.filter(**still_due)
        if unless is not None:
            query = query.exclude(unless)
        if after is not None:
            query = query.filter(Q(**{f"{deadline}__gt": after[0]}) | Q(**{deadline: after[0], "pk__gt": after[1]}))
        batch = list(query.order_by(deadline, "pk").values_list(deadline, "pk")[:batch_size])
        if not batch:
            return handled
        for _, pk in batch:
            try:
                with transaction.atomic():
                    row = lock_if_due(model, pk, **still_due)
                    if row is None or (unless is not None and model.objects.filter(unless, pk=pk).exists()):
                        continue
                    handle(row)
                    handled += 1
            except Exception as exc:  # noqa: BLE001 - one bad row must not stop the pass
                logger.exception("timer %s.%s failed for pk=%s", model.__name__, deadline, pk)
                if has_error_field:
                    model.objects.filter(pk=pk).update(timer_error=f"{timezone.now():%Y-%m-%d %H:%M} {exc!r}"[:500])
        after = batch[-1]


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
