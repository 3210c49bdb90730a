"""The TikTok timers, run by the project's timer pass (``backoffice.timers``).

* ``token_refresh_at``: a shop's tokens are renewed before the access token expires;
* ``next_poll_at``: each connected shop is polled for what its webhooks missed;
* ``next_attempt_at``: a webhook whose processing failed (or whose task was lost) is tried again;
* ``TikTokCall.next_attempt_at``: a call to TikTok that failed is sent again after its backoff, and
  one whose worker never reported back (its lease ran out) is checked and sent again;
* ``next_stock_sync_at``: every linked SKU's stock is pushed again (``TIKTOK_STOCK_SYNC_INTERVAL``).

Each due row is leased under its lock: the column moves to the next time (a
retry time, should the task be lost) and a task is queued after the commit.
TikTok is called by that task, never while the row is locked. Safe to run late,
twice or on many workers: ``core.timers.process_due`` locks with SKIP LOCKED and
re-checks each row.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from core.tasks import enqueue_on_commit
from core.timers import process_due
from tiktok.models import CallStatus, EventStatus, Shop, ShopStatus, TikTokCall, TikTokEvent
from tiktok.services.outbox import call_requeue_due

# A refresh task that never reported back is run again after this.
REFRESH_LEASE = timedelta(minutes=10)


def _lease_refresh(shop: Shop) -> None:
    shop.token_refresh_at = timezone.now() + REFRESH_LEASE
    shop.save(update_fields=["token_refresh_at", "updated_at"])
    enqueue_on_commit("tiktok.tasks.shop_tokens_refresh", shop.pk)


def _lease_poll(shop: Shop) -> None:
    shop.next_poll_at = timezone.now() + settings.TIKTOK_POLL_INTERVAL
    shop.save(update_fields=["next_poll_at", "updated_at"])
    enqueue_on_commit("tiktok.tasks.shop_poll", shop.pk)


def _lease_event(event: TikTokEvent) -> None:
    event.next_attempt_at = timezone.now() + settings.TIKTOK_EVENT_STALE_AFTER
    event.save(update_fields=["next_attempt_at"])
    enqueue_on_commit("tiktok.tasks.event_process", event.pk)


def _lease_stock_sync(shop: Shop) -> None:
    shop.next_stock_sync_at = timezone.now() + settings.TIKTOK_STOCK_SYNC_INTERVAL
    shop.save(update_fields=["next_stock_sync_at", "updated_at"])
    enqueue_on_commit("tiktok.tasks.shop_stock_sync", shop.pk)


def process_due_tiktok(*, now: datetime) -> dict[str, int]:
    return {
        "tiktok_token_refreshes": process_due(
            model=Shop, deadline="token_refresh_at", now=now, handle=_lease_refresh, status=ShopStatus.ACTIVE
        ),
        "tiktok_polls": process_due(
            model=Shop, deadline="next_poll_at", now=now, handle=_lease_poll, status=ShopStatus.ACTIVE
        ),
        "tiktok_event_retries": process_due(
            model=TikTokEvent,
            deadline="next_attempt_at",
            now=now,
            handle=_lease_event,
            status__in=[EventStatus.RECEIVED, EventStatus.FAILED],
        ),
        "tiktok_calls_requeued": process_due(
            model=TikTokCall,
            deadline="next_attempt_at",
            now=now,
            handle=call_requeue_due,
            status__in=[CallStatus.PENDING, CallStatus.SENDING, CallStatus.FAILED],
        ),
        "tiktok_stock_syncs": process_due(
            model=Shop, deadline="next_stock_sync_at", now=now, handle=_lease_stock_sync, status=ShopStatus.ACTIVE
        ),
    }
