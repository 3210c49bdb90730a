"""The outbox's timer: queue whatever is due for the delivery workers (retries, lost tasks).

Delivered events are pruned by the prune schedule (``backoffice.pruning``), not here.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from webhooks.models import WebhookEvent, WebhookEventStatus
from webhooks.services import webhook_event_enqueue

logger = logging.getLogger(__name__)


def process_due_webhooks(*, now: datetime) -> dict[str, int]:
    """Put every pending event due at ``now`` on the delivery queue, oldest first; the timer pass for the outbox.

    It never sends anything itself: a partner endpoint that hangs must not
    hold up the timers that run in the same pass. The delivery workers
    (``WEBHOOK_QUEUE``) make the attempts. An event already queued is not
    queued again before ``WEBHOOK_REQUEUE_AFTER`` (its task may have been
    lost); events of a partner whose circuit is open wait for it.
    """
    # Events written earlier in this pass (by the order timers) are due too.
    now = max(now, timezone.now())
    queued, after = 0, None
    while True:
        due = (
            WebhookEvent.objects.filter(status=WebhookEventStatus.PENDING, next_attempt_at__lte=now)
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lte=now - settings.WEBHOOK_REQUEUE_AFTER))
            .exclude(partner__webhook_circuit__open_until__gt=now)
        )
        if after is not None:
            due = due.filter(Q(next_attempt_at__gt=after[0]) | Q(next_attempt_at=after[0], pk__gt=after[1]))
        batch = list(
            due.order_by("next_attempt_at", "pk").values_list("next_attempt_at", "pk")[: settings.TIMER_BATCH_SIZE]
        )
        if not batch:
            break
        for _, pk in batch:
            try:
                if webhook_event_enqueue(pk, now=now):
                    queued += 1
            except Exception:  # one bad row must not stop the pass; it stays due
                logger.exception("queueing the webhook event pk=%s failed", pk)
        after = batch[-1]
    return {"webhooks_queued": queued}
