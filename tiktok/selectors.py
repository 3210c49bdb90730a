"""Reads of the TikTok app: a seller's shops, the counts staff watch, an order's events."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from accounts.models import Seller
from tiktok.models import EventStatus, Shop, ShopStatus, TikTokEvent


def seller_shops(seller: Seller) -> QuerySet[Shop]:
    return Shop.objects.filter(seller=seller).order_by("name", "pk")


def tiktok_counts() -> dict[str, int]:
    """Shops whose seller must connect again, and events that failed (one query each)."""
    shops = Shop.objects.aggregate(needs_reconnect=Count("pk", filter=Q(status=ShopStatus.TOKEN_EXPIRED)))
    failed = TikTokEvent.objects.filter(status=EventStatus.FAILED).count()
    return {"needs_reconnect": shops["needs_reconnect"], "failed_events": failed}


def order_events(*, shop_id: int, tiktok_order_id: str) -> QuerySet[TikTokEvent]:
    return TikTokEvent.objects.filter(shop_id=shop_id, tiktok_order_id=tiktok_order_id)
