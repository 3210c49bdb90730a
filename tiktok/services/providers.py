"""TikTok's shipping providers, for staff to map our carriers to (``CarrierProvider``)."""

from __future__ import annotations

from django.core.cache import cache

from tiktok.client import TikTokClient, TikTokError
from tiktok.models import Shop, ShopStatus, TikTokOrder

CACHE_KEY = "tiktok:shipping_providers"
CACHE_SECONDS = 3600
# The delivery option asked when no TikTok order names one yet.
DEFAULT_DELIVERY_OPTION = "7100000000000000001"


def tiktok_shipping_providers(*, refresh: bool = False) -> list[dict]:
    """TikTok's providers (``id``, ``name``) of the delivery option our TikTok orders use, read through a
    connected shop (cached for an hour). Empty when no shop is connected or TikTok cannot be reached."""
    cached = None if refresh else cache.get(CACHE_KEY)
    if cached is not None:
        return cached
    shop = Shop.objects.filter(status=ShopStatus.ACTIVE).order_by("pk").first()
    if shop is None:
        return []
    option = (
        TikTokOrder.objects.exclude(delivery_option_id="").values_list("delivery_option_id", flat=True).last()
        or DEFAULT_DELIVERY_OPTION
    )
    try:
        providers = TikTokClient.from_settings().shipping_providers(shop.access, delivery_option_id=option)
    except TikTokError:
        return []
    found = [{"id": str(p["id"]), "name": str(p.get("name") or p["id"])} for p in providers if p.get("id")]
    cache.set(CACHE_KEY, found, CACHE_SECONDS)
    return found
