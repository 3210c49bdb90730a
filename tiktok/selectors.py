"""Reads of the TikTok app: a seller's shops, the counts staff watch, an order's events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from accounts.models import Seller
from core.display import span
from tiktok.models import CallStatus, EventStatus, Shop, ShopStatus, SkuLink, TikTokCall, TikTokEvent


def seller_shops(seller: Seller) -> QuerySet[Shop]:
    return Shop.objects.filter(seller=seller).order_by("name", "pk")


def tiktok_counts() -> dict[str, int]:
    """Shops whose seller must connect again, events that failed, and calls to TikTok that are parked or
    were refused (one query each)."""
    shops = Shop.objects.aggregate(needs_reconnect=Count("pk", filter=Q(status=ShopStatus.TOKEN_EXPIRED)))
    failed = TikTokEvent.objects.filter(status=EventStatus.FAILED).count()
    calls = TikTokCall.objects.filter(status__in=[CallStatus.PARKED, CallStatus.REJECTED]).aggregate(
        parked=Count("pk", filter=Q(status=CallStatus.PARKED)),
        refused=Count("pk", filter=Q(status=CallStatus.REJECTED)),
    )
    return {
        "needs_reconnect": shops["needs_reconnect"],
        "failed_events": failed,
        "parked_calls": calls["parked"],
        "refused_calls": calls["refused"],
    }


def order_events(*, shop_id: int, tiktok_order_id: str) -> QuerySet[TikTokEvent]:
    return TikTokEvent.objects.filter(shop_id=shop_id, tiktok_order_id=tiktok_order_id)


# --- the outbound side (R17) ----------------------------------------------------------------------------

CALL_STATE_WORDS = {
    CallStatus.PENDING: "Waiting to be sent",
    CallStatus.SENDING: "Being sent",
    CallStatus.FAILED: "Failed, will retry",
    CallStatus.SUCCEEDED: "Sent",
    CallStatus.REJECTED: "Refused by TikTok",
    CallStatus.PARKED: "Gave up retrying: our team looks into it",
    CallStatus.SUPERSEDED: "Replaced by a newer update",
}


@dataclass(frozen=True)
class CallRow:
    what: str
    state: str
    tone: str
    reason: str
    at: object
    attempts: int


def order_calls(order) -> list[CallRow]:
    """What we told TikTok about one order, oldest first, in words a seller reads."""
    rows = []
    for call in TikTokCall.objects.filter(order=order).order_by("created_at", "id"):
        tone = {
            CallStatus.SUCCEEDED: "delivered",
            CallStatus.REJECTED: "cancelled",
            CallStatus.PARKED: "cancelled",
            CallStatus.FAILED: "warning",
        }.get(call.status, "")
        rows.append(
            CallRow(
                what=call.get_operation_display(),
                state=CALL_STATE_WORDS.get(call.status, call.get_status_display()),
                tone=tone,
                reason=call.reason,
                at=call.completed_at or call.last_attempt_at or call.created_at,
                attempts=call.attempts,
            )
        )
    return rows


def shop_health(shop: Shop) -> dict:
    """The shop's health line: calls failing (still retrying) or refused in the last day, parked calls, and
    how long the oldest stock change has waited to reach TikTok (None when none waits)."""
    now = timezone.now()
    counts = TikTokCall.objects.filter(shop=shop).aggregate(
        failing=Count("pk", filter=Q(status=CallStatus.FAILED)),
        refused=Count("pk", filter=Q(status=CallStatus.REJECTED, completed_at__gte=now - timedelta(days=1))),
        parked=Count("pk", filter=Q(status=CallStatus.PARKED)),
    )
    oldest = SkuLink.objects.filter(shop=shop, changed_at__isnull=False).aggregate(oldest=Min("changed_at"))["oldest"]
    lag = (now - oldest) if oldest is not None else None
    return {
        **counts,
        "stock_lag": lag,
        "stock_lag_words": span(lag) if lag is not None else "",
        "linked_skus": SkuLink.objects.filter(shop=shop).count(),
    }
