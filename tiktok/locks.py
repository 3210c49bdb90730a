"""Every row lock of the TikTok app. A shop is locked on its own (never with an order held); a
``TikTokOrder`` link only after its order (``orders.locks.lock_order``)."""

from __future__ import annotations

from orders.models import Order
from tiktok.models import Shop, TikTokOrder


def lock_shop(shop_pk: int) -> Shop | None:
    """Lock one shop and return it re-read (None if it is gone). Precondition: inside ``transaction.atomic()``."""
    return Shop.objects.select_for_update(of=("self",)).select_related("seller", "partner").filter(pk=shop_pk).first()


def lock_shop_by_tiktok_id(shop_id: str) -> Shop | None:
    """The shop with TikTok id ``shop_id``, locked, or None. Precondition: inside ``transaction.atomic()``."""
    return Shop.objects.select_for_update(of=("self",)).filter(shop_id=shop_id).first()


def lock_order_link(order: Order) -> TikTokOrder | None:
    """The TikTok link of ``order``, locked. Precondition: ``order`` is locked by the caller."""
    return TikTokOrder.objects.select_for_update().filter(order_id=order.pk).first()
