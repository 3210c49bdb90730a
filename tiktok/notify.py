"""Telling a seller that their TikTok shop needs them: the tokens could not be renewed."""

from __future__ import annotations

from accounts.emails import portal_url, seller_message
from tiktok.models import Shop, ShopStatus


def notify_shop_problem(shop_id: int) -> str:
    """Email the seller to connect the shop again; nothing when it was reconnected meanwhile."""
    shop = Shop.objects.select_related("seller").filter(pk=shop_id).first()
    if shop is None or shop.status != ShopStatus.TOKEN_EXPIRED:
        return "not needed"
    seller_message(
        seller=shop.seller,
        template="tiktok_shop_disconnected",
        subject=f"Your TikTok shop {shop} needs to be connected again",
        context={"shop": shop, "connect_url": portal_url("portal:tiktok")},
    ).send()
    return "sent"
