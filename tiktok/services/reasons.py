"""TikTok's reject reasons, read from TikTok and kept on the shop for the portal and admin forms."""

from __future__ import annotations

from tiktok.client import TikTokClient, TikTokError
from tiktok.models import Shop

KINDS = ("CANCEL", "RETURN")


def shop_reject_reasons(*, shop_id: int, kind: str = "CANCEL", refresh: bool = False) -> list[dict]:
    """The reasons (``name``, ``text``) a seller may give TikTok for rejecting a cancellation (``CANCEL``)
    or a return (``RETURN``). Read from TikTok (no lock held) when not known yet or on ``refresh``, then
    kept on the shop; when TikTok cannot be reached the last known list is returned."""
    shop = Shop.objects.get(pk=shop_id)
    known = (shop.reject_reasons or {}).get(kind) or []
    if known and not refresh:
        return known
    try:
        reasons = TikTokClient.from_settings().reject_reasons(shop.access, kind=kind)
    except TikTokError:
        return known
    cleaned = [{"name": str(r["name"]), "text": str(r.get("text") or r["name"])} for r in reasons if r.get("name")]
    Shop.objects.filter(pk=shop_id).update(reject_reasons={**(shop.reject_reasons or {}), kind: cleaned})
    return cleaned
