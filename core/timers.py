"""Timers are data, not jobs: every deadline is an indexed column, and one pass moves what is due.

``process_due`` is the engine every app's ``timers.py`` runs its deadlines
through. It is safe to run late (it catches up on everything overdue), twice,
or on many workers at once: each due row is locked with ``SKIP LOCKED`` and
re-checked under the lock, so each transition happens once.
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


def lock_if_due(model: type[models.Model], pk: int, **still_due) -> models.Model | None:
    """Lock one row for a timer, or return None if another worker holds it or it is no longer due.

    ``still_due`` re-checks the deadline under the lock, so a row that another
    worker has already moved is left alone. Precondition: inside ``transaction.atomic()``.
    """
    return model.objects.select_for_update(skip_locked=True, of=("self",)).filter(pk=pk, **still_due).first()


def process_due(
    *,
    model: type[models.Model],
    deadline: str,
    now: datetime,
    handle: Callable[[models.Model], object],
    batch_size: int | None = None,
    unless: Q | None = None,
    owns_error: bool = False,
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
    ``owns_error`` says that this is the only timer of the model, so the error
    on a row is this timer's and a later pass that handles the row clears it.
    (An order's one ``timer_error`` is shared by several timers: none may clear
    what another wrote.) Returns the number of rows handled.
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
                    if owns_error and row.timer_error:
                        model.objects.filter(pk=pk).update(timer_error="")
                    handled += 1
            except Exception as exc:  # one bad row must not stop the pass
                logger.exception("timer %s.%s failed for pk=%s", model.__name__, deadline, pk)
                if has_error_field:
                    model.objects.filter(pk=pk).update(timer_error=f"{timezone.now():%Y-%m-%d %H:%M} {exc!r}"[:500])
        after = batch[-1]
