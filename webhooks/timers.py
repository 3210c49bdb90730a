"""The outbox's timer: deliver whatever is due (retries, and events whose prompt task was lost), and prune."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from webhooks.models import WebhookEvent, WebhookEventStatus
from webhooks.services import webhook_event_deliver, webhook_events_purge

logger = logging.getLogger(__name__)


def process_due_webhooks(*, now: datetime) -> dict[str, int]:
    """Deliver every pending event due at ``now``, oldest first; the timer pass for the outbox.

    Due ids are read in keyset batches without locks; ``webhook_event_deliver``
    claims each one, so parallel passes share the work instead of repeating it.
    A pass stops starting new attempts after ``WEBHOOK_PASS_TIME_LIMIT`` (slow
    endpoints must not hold the other timers up); the rest stay due.
    """
    stop_at = time.monotonic() + settings.WEBHOOK_PASS_TIME_LIMIT.total_seconds()
    # Events written earlier in this pass (by the order timers) are due too.
    now = max(now, timezone.now())
    attempted, after = 0, None
    while time.monotonic() < stop_at:
        due = WebhookEvent.objects.filter(status=WebhookEventStatus.PENDING, next_attempt_at__lte=now)
        if after is not None:
            due = due.filter(Q(next_attempt_at__gt=after[0]) | Q(next_attempt_at=after[0], pk__gt=after[1]))
        batch = list(
            due.order_by("next_attempt_at", "pk").values_list("next_attempt_at", "pk")[: settings.TIMER_BATCH_SIZE]
        )
        if not batch:
            break
        for _, pk in batch:
            if time.monotonic() >= stop_at:
                break
            try:
                if webhook_event_deliver(pk) is not None:
                    attempted += 1
            except Exception:  # one bad row must not stop the pass; it stays due
                logger.exception("webhook delivery of event pk=%s failed", pk)
        after = batch[-1]
    return {"webhooks_attempted": attempted, "webhooks_purged": webhook_events_purge(now=now)}
