"""Big tables stay healthy: rows whose job is done are deleted after a retention setting each.

``prune_old_rows()`` runs every ``PRUNE_INTERVAL`` from its own django-q2
schedule (``prune_old_rows``, created after ``migrate``) and from
``manage.py prune_old_rows``. What goes, each after its own retention:

* delivered partner-webhook events, with their delivery attempts and state history (``WEBHOOK_RETENTION``);
* TikTok events processed or ignored (``TIKTOK_EVENT_RETENTION``);
* django-q2 task results, successes and failures (``TASK_RESULT_RETENTION``);
* ``Idempotency-Key`` records, once their key is free again (``IDEMPOTENCY_KEY_TTL``).

Orders and every audit trail of an order (order, shipment, payment, request and
return history) are never pruned, nor anything still waiting for work or for
staff (pending or parked webhooks, failed TikTok events). Every delete runs in
batches of ``PRUNE_BATCH_SIZE`` rows, each batch its own short transaction
(``core.pruning``), so no lock is held for long; running it twice at once is
harmless.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django_q.models import Task

from accounts.idempotency import idempotency_records_prune
from core.pruning import prune_in_batches
from tiktok.services.events import tiktok_events_prune
from webhooks.services import webhook_events_prune

logger = logging.getLogger(__name__)


def task_results_prune(*, now: datetime) -> int:
    """Delete django-q2's results (``Success`` and ``Failure`` alike) of tasks that stopped before the retention."""
    return prune_in_batches(Task.objects.filter(stopped__lt=now - settings.TASK_RESULT_RETENTION))


def prune_old_rows(*, now: datetime | None = None) -> dict[str, int]:
    """One pruning run over every table above; returns how many rows of each kind were deleted."""
    now = now or timezone.now()
    counts = {
        "webhook_events": webhook_events_prune(now=now),
        "tiktok_events": tiktok_events_prune(now=now),
        "task_results": task_results_prune(now=now),
        "idempotency_records": idempotency_records_prune(),
    }
    if any(counts.values()):
        logger.info("pruned: %s", counts)
    return counts
