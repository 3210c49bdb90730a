"""Deleting old rows from big tables in small batches, each in a short transaction of its own.

A single ``DELETE`` of a month of rows would hold its row locks (and, for the
rows it cascades to, theirs) until it commits, and write one huge transaction.
``prune_in_batches`` reads the primary keys of at most ``PRUNE_BATCH_SIZE``
rows that match, then in one transaction locks those that still match with
``SKIP LOCKED`` (a row a worker holds is left for the next run) and deletes
them, cascades included; then the next batch, in primary-key order. Safe to run
on many workers at once, and at any time: a row that stopped matching between
the read and the lock (an event redelivered meanwhile) is not deleted.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models, transaction


def prune_in_batches(queryset: models.QuerySet, *, batch_size: int | None = None) -> int:
    """Delete every row of ``queryset`` (cascades included), ``batch_size`` rows per transaction; return how many."""
    batch_size = batch_size or settings.PRUNE_BATCH_SIZE
    model = queryset.model
    deleted, after = 0, None
    while True:
        page = queryset.order_by("pk")
        if after is not None:
            page = page.filter(pk__gt=after)
        ids = list(page.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        with transaction.atomic():
            # Re-checked under the lock: the queryset's conditions, on rows no one else holds.
            still = queryset.filter(pk__in=ids).select_for_update(skip_locked=True, of=("self",))
            locked = list(still.values_list("pk", flat=True))
            if locked:
                model.objects.filter(pk__in=locked).delete()
                deleted += len(locked)
        if len(ids) < batch_size:
            return deleted
        after = ids[-1]
