"""Writing a call to TikTok into the outbox (``tiktok.services.outbox`` sends it)."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.actors import Actor
from core.tasks import enqueue_on_commit
from orders.models import Order
from tiktok.models import CallStatus, Shop, TikTokCall


def confirmation_actor() -> Actor:
    """Who applies TikTok's answers to our rows."""
    return Actor.system("TikTok sync")


def is_tiktok_actor(actor: Actor) -> bool:
    """Changes made because TikTok said so must not be sent back to TikTok."""
    return actor.kind == "system" and actor.label.startswith("TikTok")


def call_record(
    *,
    shop: Shop,
    operation: str,
    target: str,
    payload: dict,
    actor: Actor,
    order: Order | None = None,
    collapse_key: str = "",
    send_after: datetime | None = None,
) -> TikTokCall:
    """Write a call in the caller's transaction; it is sent after the commit.

    Precondition: inside the transaction that made the decision. A call with a
    ``collapse_key`` while another with the same key waits is not written: the
    waiting one is returned (it reads the current state when it is sent).
    """
    now = timezone.now()
    fields = {
        "shop": shop,
        "order": order,
        "operation": operation,
        "target": str(target or ""),
        "payload": payload,
        "idempotency_key": uuid.uuid4().hex,
        "collapse_key": collapse_key,
        "requested_by": str(actor)[:200],
        "created_at": now,
        # Should the task be lost, the timer sends it after the lease.
        "next_attempt_at": (send_after or now) + settings.TIKTOK_CALL_LEASE,
    }
    if collapse_key:
        waiting = TikTokCall.objects.filter(collapse_key=collapse_key, status=CallStatus.PENDING).first()
        if waiting is not None:
            return waiting
        try:
            with transaction.atomic():
                call = TikTokCall.objects.create(**fields)
        except IntegrityError:  # another transaction wrote the waiting push first
            return TikTokCall.objects.filter(collapse_key=collapse_key, status=CallStatus.PENDING).first()
        enqueue_on_commit("tiktok.tasks.stock_push", call.pk)
        return call
    call = TikTokCall.objects.create(**fields)
    enqueue_on_commit("tiktok.tasks.call_send", call.pk)
    return call
