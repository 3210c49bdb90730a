"""Webhooks from TikTok: verified, stored once, acknowledged at once, processed by a task.

``webhook_receive`` runs in the web request: it checks the ``Authorization``
signature (HMAC-SHA256 of the app key and the raw body), stores the event
under its unique constraint (the shop and ``tts_notification_id``, or the body's
hash when TikTok sends no id) and queues ``event_process`` after the commit.
That is one small insert, well inside TikTok's 3-second limit. A repeat finds
the stored event and does nothing more.

``event_process`` is state-based: for an order event it fetches the order's
current detail (and its cancellation requests or returns) and reconciles ours
(``tiktok.services.sync``), whatever the event said. A failure is kept on the
event and retried by the timer after ``TIKTOK_EVENT_RETRY_BACKOFF``; staff can
process an event again from the admin.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError, InvalidInput, PermissionRefused
from core.pruning import prune_in_batches
from core.tasks import enqueue_on_commit
from tiktok import mapping
from tiktok.client import TikTokError
from tiktok.models import HANDLED_TYPES, EventStatus, EventType, Shop, TikTokEvent
from tiktok.services.reconcile import tiktok_actor
from tiktok.services.shops import shop_deauthorise
from tiktok.services.sync import cancellations_sync, orders_sync, returns_sync
from tiktok.signing import webhook_verify

logger = logging.getLogger(__name__)

REPROCESS_PERMISSION = "tiktok.reprocess_tiktokevent"
ORDER_TYPES = frozenset(
    {
        EventType.ORDER_STATUS_CHANGE,
        EventType.RECIPIENT_ADDRESS_UPDATE,
        EventType.CANCELLATION_STATUS_CHANGE,
        EventType.RETURN_STATUS_CHANGE,
    }
)


class WebhookSignatureInvalid(DomainError):
    code = "invalid_signature"
    status = 401


def _envelope(body: bytes) -> dict:
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("The body is not JSON.", code="invalid_json") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("type"), int):
        raise InvalidInput("Not a TikTok Shop notification: no numeric type.", code="invalid_envelope")
    return envelope


def webhook_receive(*, body: bytes, signature: str) -> tuple[TikTokEvent, bool]:
    """Store a webhook TikTok sent; return ``(event, created)``.

    Raises WebhookSignatureInvalid (401) when the signature does not verify, and
    InvalidInput for a body that is not a notification; nothing is stored then.
    Events for a shop we do not know, and types we do not act on, are stored as
    ignored. Precondition: none; the insert is its own transaction.
    """
    if not webhook_verify(
        app_key=settings.TIKTOK_APP_KEY, app_secret=settings.TIKTOK_APP_SECRET, body=body, signature=signature
    ):
        raise WebhookSignatureInvalid("The Authorization signature does not match this body.")
    envelope = _envelope(body)
    tiktok_shop_id = str(envelope.get("shop_id") or "")[:64]
    shop = Shop.objects.filter(shop_id=tiktok_shop_id).only("pk").first() if tiktok_shop_id else None
    data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
    event = TikTokEvent(
        shop=shop,
        tiktok_shop_id=tiktok_shop_id,
        type=envelope["type"],
        notification_id=str(envelope.get("tts_notification_id") or "")[:64],
        body_hash=hashlib.sha256(body).hexdigest(),
        body=envelope,
        tiktok_order_id=str(data.get("order_id") or "")[:64],
        sent_at=mapping.when(envelope.get("timestamp")),
    )
    if shop is None:
        event.status, event.error = EventStatus.IGNORED, "No shop with this id is connected here."
    elif event.type not in HANDLED_TYPES:
        event.status, event.error = EventStatus.IGNORED, "A type we do not act on."
    else:
        event.next_attempt_at = timezone.now() + settings.TIKTOK_EVENT_STALE_AFTER
    try:
        with transaction.atomic():
            event.save(force_insert=True)
            if event.status == EventStatus.RECEIVED:
                enqueue_on_commit("tiktok.tasks.event_process", event.pk)
    except IntegrityError:
        existing = _existing(event)
        if existing is None:
            raise
        return existing, False
    return event, True


def _existing(event: TikTokEvent) -> TikTokEvent | None:
    if event.notification_id:
        return TikTokEvent.objects.filter(
            tiktok_shop_id=event.tiktok_shop_id, notification_id=event.notification_id
        ).first()
    return TikTokEvent.objects.filter(body_hash=event.body_hash, notification_id="").first()


def event_process(*, event_id: int) -> TikTokEvent | None:
    """Act on a stored event (the task). Processed and ignored events are left alone.

    Order events fetch the order's current detail and reconcile ours; a
    cancellation (11) or return (12) event then reconciles the order's requests
    too; a deauthorisation (6) disconnects the shop. No lock is held while
    TikTok is called, and the outcome is written to the event afterwards.
    """
    event = TikTokEvent.objects.select_related("shop__seller", "shop__partner").filter(pk=event_id).first()
    if event is None or event.status not in (EventStatus.RECEIVED, EventStatus.FAILED) or event.shop is None:
        return event
    actor = tiktok_actor(event.notification_id or event.body_hash[:16])
    try:
        _dispatch(event, actor)
    except (TikTokError, DomainError) as exc:
        _failed(event, str(getattr(exc, "detail", None) or exc))
    else:
        TikTokEvent.objects.filter(pk=event.pk, status__in=[EventStatus.RECEIVED, EventStatus.FAILED]).update(
            status=EventStatus.PROCESSED,
            processed_at=timezone.now(),
            next_attempt_at=None,
            error="",
            attempts=F("attempts") + 1,
        )
    event.refresh_from_db()
    return event


def _dispatch(event: TikTokEvent, actor: Actor) -> None:
    shop = event.shop
    if event.type == EventType.SELLER_DEAUTHORIZATION:
        message = str(event.data.get("message") or "").strip()
        note = "The seller withdrew our access on TikTok" + (f": {message}" if message else ".")
        shop_deauthorise(shop_id=shop.pk, actor=actor, note=note)
        return
    if event.type in ORDER_TYPES:
        if not event.tiktok_order_id:
            raise InvalidInput("The event names no order.", code="no_order_id")
        orders_sync(shop=shop, order_ids=[event.tiktok_order_id], actor=actor)
        if event.type == EventType.CANCELLATION_STATUS_CHANGE:
            cancellations_sync(shop=shop, order_ids=[event.tiktok_order_id], actor=actor)
        elif event.type == EventType.RETURN_STATUS_CHANGE:
            returns_sync(shop=shop, order_ids=[event.tiktok_order_id], actor=actor)


def _failed(event: TikTokEvent, error: str) -> None:
    """Keep the error; try again after the next step of the backoff, or leave it failed for staff."""
    attempts = event.attempts + 1
    backoff = settings.TIKTOK_EVENT_RETRY_BACKOFF
    next_attempt = timezone.now() + backoff[attempts - 1] if attempts <= len(backoff) else None
    TikTokEvent.objects.filter(pk=event.pk, status__in=[EventStatus.RECEIVED, EventStatus.FAILED]).update(
        status=EventStatus.FAILED, attempts=attempts, error=error[:1000], next_attempt_at=next_attempt
    )
    logger.warning("TikTok event %s failed (attempt %s): %s", event.pk, attempts, error)


def event_reprocess(*, event_id: int, actor: Actor) -> TikTokEvent:
    """Staff: process an event again now (a failed one, or a processed one to re-check the order).

    Ignored events stay ignored: they belong to no connected shop or to a type we do not act on.
    """
    if actor.kind == "staff" and (actor.user is None or not actor.user.has_perm(REPROCESS_PERMISSION)):
        raise PermissionRefused("You do not have permission to process TikTok events again.")
    with transaction.atomic():
        event = TikTokEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            raise InvalidInput(f"TikTok event {event_id} not found.", code="not_found")
        if event.status == EventStatus.IGNORED:
            return event
        event.status, event.next_attempt_at = EventStatus.FAILED, None
        event.save(update_fields=["status", "next_attempt_at"])
    logger.info("TikTok event %s processed again by %s", event_id, actor)
    return event_process(event_id=event_id)


def tiktok_events_prune(*, now: datetime) -> int:
    """Delete events processed (or ignored) longer than ``TIKTOK_EVENT_RETENTION`` ago, in batches.

    Received and failed events stay: they still have work to do, or wait for staff. Processing is
    state-based, so should TikTok send a pruned notification again, processing it again changes nothing.
    """
    cutoff = now - settings.TIKTOK_EVENT_RETENTION
    return prune_in_batches(
        TikTokEvent.objects.filter(
            Q(status=EventStatus.PROCESSED, processed_at__lt=cutoff)
            | Q(status=EventStatus.IGNORED, received_at__lt=cutoff)
        )
    )
