"""Stock back to TikTok (R17): linking our SKUs to TikTok's by ``seller_sku``, pushing the available quantity.

* ``shop_skus_link``: the seller's SKU codes are looked up with TikTok's product
  search; a match links our SKU to TikTok's product and SKU ids (``SkuLink``).
  SKUs without a match are listed for staff (``unmatched_skus``).
* A stock change of a linked SKU writes one waiting push per link
  (``tiktok.marketplace``, through ``orders.hooks``); later changes join it, so a
  burst makes one call. The push reads on hand less reserved, never below 0,
  when it is sent (``stock_push_send``), after ``TIKTOK_STOCK_PUSH_WINDOW``.
* ``shop_stock_sync`` (every ``TIKTOK_STOCK_SYNC_INTERVAL``, by the timer) links
  again and pushes every linked SKU, correcting whatever drifted.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.actors import Actor
from fulfillment.models import SKU
from tiktok.client import TikTokClient
from tiktok.models import CallStatus, Shop, ShopStatus, SkuLink, TikTokCall
from tiktok.services.outbox import call_send, stock_push_link

SEARCH_CHUNK = 100
SYNC_ACTOR = Actor.system("TikTok stock sync")


def stock_push_send(call_id: int) -> TikTokCall | None:
    """Send a waiting stock push once its collapse window is over (the task waits out the rest of it)."""
    call = TikTokCall.objects.filter(pk=call_id, status=CallStatus.PENDING).only("created_at").first()
    if call is None:
        return None
    wait = (call.created_at + settings.TIKTOK_STOCK_PUSH_WINDOW - timezone.now()).total_seconds()
    if wait > 0:
        time.sleep(min(wait, settings.TIKTOK_STOCK_PUSH_WINDOW.total_seconds()))
    return call_send(call_id)


def shop_skus_link(*, shop_id: int) -> dict[str, int]:
    """Link the seller's SKUs to this shop's TikTok SKUs by ``seller_sku``. TikTok is searched with no
    transaction open; the links are written after. Returns how many are linked and unmatched."""
    shop = Shop.objects.select_related("seller").get(pk=shop_id)
    if shop.status != ShopStatus.ACTIVE:
        return {"linked": 0, "unmatched": 0}
    skus = {sku.code: sku for sku in SKU.objects.filter(seller_id=shop.seller_id)}
    client = TikTokClient.from_settings()
    found: dict[str, tuple[str, str, str]] = {}
    codes = sorted(skus)
    for start in range(0, len(codes), SEARCH_CHUNK):
        for product in client.products_search(shop.access, seller_skus=codes[start : start + SEARCH_CHUNK]):
            for tt_sku in product.get("skus") or []:
                code = str(tt_sku.get("seller_sku") or "")
                if code in skus and code not in found:
                    warehouse = ((tt_sku.get("inventory") or [{}])[0]).get("warehouse_id", "")
                    found[code] = (str(product["id"]), str(tt_sku["id"]), str(warehouse or ""))
    with transaction.atomic():
        for code, (product_id, tt_sku_id, warehouse) in found.items():
            SkuLink.objects.update_or_create(
                shop=shop,
                sku=skus[code],
                defaults={"product_id": product_id, "tiktok_sku_id": tt_sku_id, "warehouse_id": warehouse},
            )
        SkuLink.objects.filter(shop=shop).exclude(sku__code__in=list(found)).delete()
    return {"linked": len(found), "unmatched": len(skus) - len(found)}


def shop_stock_sync(*, shop_id: int) -> dict[str, int]:
    """Link again, then push every linked SKU's available quantity (one call each, collapsed with any
    push already waiting)."""
    result = shop_skus_link(shop_id=shop_id)
    pushed = 0
    with transaction.atomic():
        for link in SkuLink.objects.filter(shop_id=shop_id).select_related("shop"):
            stock_push_link(link=link, actor=SYNC_ACTOR)
            pushed += 1
    return {**result, "pushed": pushed}


def unmatched_skus(shop: Shop) -> QuerySet[SKU]:
    """The seller's SKUs that no TikTok SKU of this shop matched (by ``seller_sku``)."""
    return SKU.objects.filter(seller_id=shop.seller_id).exclude(tiktok_links__shop=shop).order_by("code")
