"""Stock back to TikTok (R17): SKUs linked by ``seller_sku``, available quantity pushed, bursts collapsed."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from fulfillment.models import Stock
from fulfillment.tests.factories import make_sku
from orders.tests.factories import make_order
from tiktok.models import CallOperation, CallStatus, SkuLink, TikTokCall
from tiktok.services.stock import shop_skus_link, shop_stock_sync, unmatched_skus
from tiktok.timers import process_due_tiktok

pytestmark = pytest.mark.django_db


def inventory_calls(tiktok) -> list[dict]:
    return [c for c in tiktok.control("calls?path=/product/", method="GET")["calls"] if "inventory" in c["path"]]


def tiktok_quantity(tiktok, seller_sku: str) -> int:
    for product in tiktok.control("products", method="GET")["products"]:
        for sku in product["skus"]:
            if sku["seller_sku"] == seller_sku:
                return sku["inventory"][0]["quantity"]
    raise AssertionError(f"no TikTok SKU {seller_sku}")


@pytest.fixture
def linked(tiktok, shop, settings):
    settings.TIKTOK_STOCK_PUSH_WINDOW = timedelta(0)
    Stock.objects.filter(sku__code="TSHIRT-M").update(on_hand=100)
    make_sku(seller=shop.seller, code="MUG-RED", on_hand=5, wholesale_cost=300)
    tiktok.control("products", {"seller_sku": "TSHIRT-M", "quantity": 7})
    result = shop_skus_link(shop_id=shop.pk)
    assert result == {"linked": 1, "unmatched": 1}
    return SkuLink.objects.get(shop=shop)


def test_skus_are_linked_by_seller_sku_and_the_unmatched_are_listed(tiktok, shop, linked):
    assert linked.sku.code == "TSHIRT-M" and linked.product_id and linked.tiktok_sku_id
    assert [sku.code for sku in unmatched_skus(shop)] == ["MUG-RED"]


def test_fifty_orders_on_one_sku_within_a_second_make_at_most_two_inventory_calls(
    tiktok, shop, linked, django_capture_on_commit_callbacks
):
    # The task queue runs behind the orders: here, every order of the burst commits before it gets to work.
    with django_capture_on_commit_callbacks() as callbacks:
        for _ in range(50):
            make_order(partner=shop.partner, seller=shop.seller, lines=[("TSHIRT-M", 1)])
    assert TikTokCall.objects.filter(operation=CallOperation.INVENTORY_UPDATE).count() == 1
    for callback in callbacks:
        callback()
    assert len(inventory_calls(tiktok)) == 1
    assert tiktok_quantity(tiktok, "TSHIRT-M") == 50  # 100 on hand, 50 reserved

    # A second burst while a push is on its way: the push in flight, then one more for what it missed.
    with django_capture_on_commit_callbacks() as first:
        for _ in range(25):
            make_order(partner=shop.partner, seller=shop.seller, lines=[("TSHIRT-M", 1)])
    with django_capture_on_commit_callbacks() as second:
        first[0]()  # sent now: 25 orders in
        for _ in range(25):
            make_order(partner=shop.partner, seller=shop.seller, lines=[("TSHIRT-M", 1)])
    for callback in second:
        callback()
    assert len(inventory_calls(tiktok)) == 3  # 1 for the first 50 orders, 2 for the next 50
    assert tiktok_quantity(tiktok, "TSHIRT-M") == 0
    linked.refresh_from_db()
    assert (linked.pushed_quantity, linked.changed_at) == (0, None)


def test_a_negative_or_impossible_quantity_is_never_sent(tiktok, shop, linked, django_capture_on_commit_callbacks):
    # More ordered than on hand: reserved cannot pass on hand, so available is 0 at worst, and 0 is sent.
    with django_capture_on_commit_callbacks(execute=True):
        make_order(partner=shop.partner, seller=shop.seller, lines=[("TSHIRT-M", 150)])
    (call,) = inventory_calls(tiktok)
    assert call["body"]["skus"][0]["inventory"][0]["quantity"] == 0
    # More than TikTok takes for one SKU: its maximum is sent, never a number it refuses.
    Stock.objects.filter(sku__code="TSHIRT-M").update(on_hand=250_000)
    with django_capture_on_commit_callbacks(execute=True):
        make_order(partner=shop.partner, seller=shop.seller, lines=[("TSHIRT-M", 1)])
    quantities = [c["body"]["skus"][0]["inventory"][0]["quantity"] for c in inventory_calls(tiktok)]
    assert quantities == [0, 99999]
    assert all(c["http_status"] == 200 for c in inventory_calls(tiktok))


def test_the_periodic_sync_corrects_drift(tiktok, shop, linked, django_capture_on_commit_callbacks):
    tiktok.control("products", {"seller_sku": "OTHER", "quantity": 1})
    # Someone changed TikTok's stock by hand: the full sync puts ours back.
    assert tiktok_quantity(tiktok, "TSHIRT-M") == 7
    with django_capture_on_commit_callbacks(execute=True):
        result = shop_stock_sync(shop_id=shop.pk)
    assert result["pushed"] == 1
    assert tiktok_quantity(tiktok, "TSHIRT-M") == 100
    assert TikTokCall.objects.get(operation=CallOperation.INVENTORY_UPDATE).status == CallStatus.SUCCEEDED


def test_a_failed_push_is_replaced_by_the_newer_one_waiting(tiktok, shop, linked, django_capture_on_commit_callbacks):
    path = f"/product/202309/products/{linked.product_id}/"
    tiktok.control("failures", {"path": path, "http_status": 503, "times": 1})
    with django_capture_on_commit_callbacks(execute=True):
        make_order(partner=shop.partner, seller=shop.seller, lines=[("TSHIRT-M", 1)])
    failed = TikTokCall.objects.get()
    assert failed.status == CallStatus.FAILED
    with django_capture_on_commit_callbacks():  # a newer change waits; its task has not run yet
        make_order(partner=shop.partner, seller=shop.seller, lines=[("TSHIRT-M", 1)])
    newer = TikTokCall.objects.exclude(pk=failed.pk).get()
    assert newer.status == CallStatus.PENDING

    later = timezone.now() + timedelta(minutes=2)
    tiktok.control("clock", {"advance": 120})
    with time_machine.travel(later, tick=True), django_capture_on_commit_callbacks(execute=True):
        process_due_tiktok(now=timezone.now())
    failed.refresh_from_db()
    newer.refresh_from_db()
    assert (failed.status, newer.status) == (CallStatus.SUPERSEDED, CallStatus.SUCCEEDED)
    assert tiktok_quantity(tiktok, "TSHIRT-M") == 98
