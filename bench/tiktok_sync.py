#!/usr/bin/env python3
"""TikTok outbound benchmark: 500 labels and stock changes on 200 SKUs, through the outbox to the emulator.

    python bench/tiktok_sync.py [--orders 500] [--skus 200] [--changes 5] [--cluster-workers 2]

It creates a fresh PostgreSQL database, starts the TikTok Shop emulator on a
free loopback port, and provisions a seller with ``--skus`` SKUs, each linked
to a TikTok product of the same ``seller_sku``, a carrier mapped to one of
TikTok's shipping providers, and a connected shop. ``--orders`` TikTok orders
(awaiting shipment on TikTok) are taken in, paid by the seller, picked and
packed. Then a django-q2 cluster (``--cluster-workers``) is started, as
production runs it, and the benchmark makes the business decisions in this
process:

* shipping: every order is labelled (``shipment_label``); each writes one
  outbox call, which the cluster sends to TikTok after the commit;
* stock: every SKU's stock changes ``--changes`` times in a burst (each change a
  separate transaction, as separate orders or restocks would be).

It prints, for each, the calls TikTok received per business change (the goal
is 1.0 for shipping; at most 1 per SKU per collapse window for stock, so at
most ``ceil(burst / TIKTOK_STOCK_PUSH_WINDOW) + 1`` per SKU), and the p50/p95
time from the decision (the label's commit; a SKU's last change) to the
emulator's state matching it (the emulator's time of the answer that made it
so). As a reference measured in the same run it times the same signed ship
call made directly (no outbox), and prints the ratio of the p95s. Afterwards it
checks that every package shipped exactly once with its tracking number, and
that TikTok shows every SKU's true available quantity. Set ``REDIS_URL`` to
use Redis as the task broker. Needs PostgreSQL on 127.0.0.1 (see bench/common.py).
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time

from common import ROOT, free_port, fresh_database, stop, wait_for
from common import TIKTOK_APP_KEY as APP_KEY
from common import TIKTOK_APP_SECRET as APP_SECRET
from common import TikTokEmulator as Emulator
from common import tiktok_setup_django as setup_django

SELLER = "BENCH"
PROVIDER = "7117858858072016686"  # the emulator's UPS
REFERENCE_CALLS = 100


def provision(emulator: Emulator, *, orders: int, skus: int):
    """Seller, SKUs linked to TikTok products, a mapped carrier, the shop, and packed TikTok orders."""
    from accounts.services import seller_create
    from core.actors import Actor
    from fulfillment.models import Carrier
    from fulfillment.services import shipment_pack, shipment_start_picking, stock_import_csv
    from payments.services.bank import bank_transfer_record
    from tiktok.client import TikTokClient
    from tiktok.mapping import when
    from tiktok.models import CarrierProvider, Shop
    from tiktok.services import order_reconcile, shop_connect_with_tokens, tiktok_actor
    from tiktok.services.stock import shop_skus_link

    actor = Actor.system("bench")
    seller_create(code=SELLER, name="Benchmark seller", email="bench@example.com", actor=actor)
    rows = ["seller,sku,name,wholesale_cost,on_hand"]
    rows += [f"{SELLER},SKU-{i:03d},Product {i},7.50,1000" for i in range(skus)]
    stock_import_csv(text="\n".join(rows) + "\n", actor=actor)
    carrier, _ = Carrier.objects.get_or_create(
        code="benchship", defaults={"name": "BenchShip", "tracking_pattern": r"^BS\d{10}$"}
    )
    CarrierProvider.objects.create(carrier=carrier, provider_id=PROVIDER, provider_name="UPS")
    tt_shop = emulator.control("shops", {"name": "Benchmark shop", "region": "US"})
    grant = emulator.control(f"shops/{tt_shop['id']}/grant")
    shop, _ = shop_connect_with_tokens(
        seller_code=SELLER,
        shop_id=tt_shop["id"],
        shop_cipher=grant["cipher"],
        access_token=grant["access_token"],
        refresh_token=grant["refresh_token"],
        access_expires_at=when(grant["access_token_expire_in"]),
        actor=actor,
    )
    Shop.objects.filter(pk=shop.pk).update(next_poll_at=None, next_stock_sync_at=None)
    for i in range(skus):
        emulator.control("products", {"seller_sku": f"SKU-{i:03d}", "quantity": 0})
    assert shop_skus_link(shop_id=shop.pk)["linked"] == skus

    ids = []
    for i in range(orders):
        sku = f"SKU-{i % skus:03d}"
        order = emulator.control(
            "orders",
            {"shop_id": tt_shop["id"], "lines": [{"seller_sku": sku, "quantity": 1}], "status": "AWAITING_SHIPMENT"},
        )
        ids.append(order["id"])
    client, sync = TikTokClient.from_settings(), tiktok_actor()
    finance = Actor.system("bench finance")
    ours = []
    for detail in client.orders_get(shop.access, ids=ids):
        order = order_reconcile(shop=shop, detail=detail, actor=sync)
        bank_transfer_record(order_id=order.pk, reference=f"BANK-{order.pk}", actor=finance)
        shipment_start_picking(order_id=order.pk, actor=actor)
        shipment_pack(order_id=order.pk, actor=actor)
        ours.append(order.pk)
    return shop, ours


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def wait_until(what: str, done, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not done after {timeout:.0f} s")
        time.sleep(0.5)


def run_shipping(emulator: Emulator, order_ids: list[int]) -> tuple[list[float], int]:
    """Label every order; wait for the cluster to ship them; (decision→TikTok seconds, ship calls)."""
    from core.actors import Actor
    from fulfillment.services import shipment_label
    from tiktok.models import CALL_OPEN, CallOperation, CallStatus, TikTokCall, TikTokOrder

    actor = Actor.system("bench warehouse")
    decided: dict[str, float] = {}
    packages = dict(TikTokOrder.objects.filter(order_id__in=order_ids).values_list("order_id", "package_ids"))
    for order_id in order_ids:
        shipment_label(
            order_id=order_id,
            carrier="benchship",
            tracking_number=f"BS{order_id:010d}",
            handover_method="pickup",
            actor=actor,
        )
        decided[packages[order_id][0]] = time.time()  # committed: the decision is made
    ships = TikTokCall.objects.filter(operation=CallOperation.SHIP_PACKAGE)
    wait_until("shipping", lambda: not ships.filter(status__in=CALL_OPEN).exists())
    if ships.exclude(status=CallStatus.SUCCEEDED).exists():
        raise SystemExit("some labels were refused or parked")
    answered = {}
    posts = [
        c
        for c in emulator.calls("/fulfillment/202309/packages/")
        if c["method"] == "POST" and c["path"].split("/")[4] in decided
    ]
    for call in posts:
        package = call["path"].split("/")[4]
        if call["http_status"] == 200:
            answered.setdefault(package, call["at"])
    return [answered[p] - t for p, t in decided.items()], len(posts)


def run_stock(emulator: Emulator, *, changes: int) -> tuple[list[float], int, int]:
    """Change every linked SKU's stock ``changes`` times; wait until TikTok shows the truth;
    (last change→TikTok seconds per SKU, inventory calls, SKUs)."""
    from django.db import transaction

    from fulfillment.models import Stock
    from fulfillment.services import stock_restock
    from tiktok.models import CALL_OPEN, CallOperation, CallStatus, SkuLink, TikTokCall

    links = list(SkuLink.objects.select_related("sku"))
    pushes_of = TikTokCall.objects.filter(operation=CallOperation.INVENTORY_UPDATE)
    # The labels' own pushes (shipping moves stock too) are done before the stock changes start.
    wait_until("earlier pushes", lambda: not pushes_of.filter(status__in=CALL_OPEN).exists())
    before = len([c for c in emulator.calls("/product/") if "inventory" in c["path"]])
    last_change: dict[str, float] = {}
    for link in links:
        for _ in range(changes):  # a burst on one SKU: each change its own transaction, as orders are
            with transaction.atomic():
                stock_restock(quantities={link.sku_id: 1})
        last_change[link.tiktok_sku_id] = time.time()
    wait_until("stock", lambda: not pushes_of.filter(status__in=CALL_OPEN).exists())
    refused = pushes_of.filter(status__in=[CallStatus.REJECTED, CallStatus.PARKED]).count()
    if refused:
        raise SystemExit(f"{refused} stock pushes were refused or parked")
    truth = {
        link.tiktok_sku_id: Stock.objects.get(sku_id=link.sku_id).on_hand
        - Stock.objects.get(sku_id=link.sku_id).reserved
        for link in links
    }
    pushes = [c for c in emulator.calls("/product/") if "inventory" in c["path"]][before:]
    matched: dict[str, float] = {}
    for call in pushes:
        sku = call["body"]["skus"][0]
        quantity = sku["inventory"][0]["quantity"]
        if call["http_status"] == 200 and quantity == truth[sku["id"]]:
            matched.setdefault(sku["id"], call["at"])
    missing = [sku for sku in truth if sku not in matched]
    if missing:
        raise SystemExit(f"TikTok does not show the true quantity of {len(missing)} SKUs")
    return [max(0.0, matched[s] - last_change[s]) for s in truth], len(pushes), len(links)


def reference(emulator: Emulator, shop, count: int) -> list[float]:
    """The same signed ship call, made directly (no outbox, no queue): its latency is the floor."""
    from tiktok.client import TikTokClient

    client = TikTokClient.from_settings(backoff=[])
    ids = [
        emulator.control(
            "orders",
            {
                "shop_id": shop.shop_id,
                "lines": [{"seller_sku": "SKU-000", "quantity": 1}],
                "status": "AWAITING_SHIPMENT",
            },
        )["packages"][0]["id"]
        for _ in range(count)
    ]
    seconds = []
    for n, package in enumerate(ids):
        started = time.time()
        client.package_ship(
            shop.access,
            package_id=package,
            handover_method="PICKUP",
            self_shipment={"tracking_number": f"REF{n:08d}", "shipping_provider_id": PROVIDER},
        )
        seconds.append(time.time() - started)
    return seconds


def verify(emulator: Emulator, order_ids: list[int]) -> None:
    from fulfillment.models import Shipment
    from tiktok.models import TikTokOrder

    shipped = dict(Shipment.objects.filter(order_id__in=order_ids).values_list("order_id", "tracking_number"))
    for link in TikTokOrder.objects.filter(order_id__in=order_ids):
        package = emulator.control(f"packages/{link.package_ids[0]}", method="GET")
        if package["ship_calls"] != 1 or package["tracking_number"] != shipped.get(link.order_id):
            raise SystemExit(f"package {package['id']} shipped {package['ship_calls']} times, {package}")


def main() -> int:
    parser = argparse.ArgumentParser(description="Calls per business change and decision→TikTok time.")
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument("--changes", type=int, default=5, help="stock changes per SKU in the burst (default 5)")
    parser.add_argument("--cluster-workers", type=int, default=2)
    parser.add_argument("--single", type=int, default=20, help="labels made one at a time first (default 20)")
    args = parser.parse_args()

    port = free_port()
    emulator_url = f"http://127.0.0.1:{port}"
    emulator_proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.tiktok_emulator", "--port", str(port), "--app-key", APP_KEY]
        + ["--app-secret", APP_SECRET],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    cluster = None
    try:
        wait_for(f"{emulator_url}/_emulator/notifications", emulator_proc, "the TikTok emulator")
        emulator = Emulator(emulator_url)
        with fresh_database("tiktok_sync") as database_url:
            env = setup_django(database_url, emulator_url)
            started = time.monotonic()
            shop, order_ids = provision(emulator, orders=args.orders + args.single, skus=args.skus)
            took = time.monotonic() - started
            print(f"provisioned {len(order_ids)} packed orders, {args.skus} linked SKUs in {took:.0f} s")
            from django.conf import settings
            from django.db import connections

            connections.close_all()
            cluster = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env={**env, "Q_WORKERS": str(args.cluster_workers)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            single = order_ids[: args.single]
            single_seconds = []
            for order_id in single:  # one at a time: the latency of a decision with no queue in front of it
                seconds, _ = run_shipping(emulator, [order_id])
                single_seconds += seconds
            order_ids = order_ids[args.single :]
            ship_seconds, ship_calls = run_shipping(emulator, order_ids)
            stock_seconds, push_calls, sku_count = run_stock(emulator, changes=args.changes)
            verify(emulator, order_ids)
            raw = reference(emulator, shop, REFERENCE_CALLS)
            window = settings.TIKTOK_STOCK_PUSH_WINDOW.total_seconds()
            p95_ship, p95_raw = percentile(ship_seconds, 0.95), percentile(raw, 0.95)
            print(
                f"shipping: {ship_calls / len(order_ids):.2f} calls per label ({ship_calls} calls, {len(order_ids)} "
                f"labels; goal 1.0); decision to TikTok p50 {statistics.median(ship_seconds) * 1000:.0f} ms, "
                f"p95 {p95_ship * 1000:.0f} ms"
            )
            print(
                f"stock: {push_calls / sku_count:.2f} calls per SKU for {args.changes} changes each "
                f"({push_calls} calls, {sku_count * args.changes} changes, {sku_count} SKUs; window {window:g} s); "
                f"last change to TikTok p50 {statistics.median(stock_seconds) * 1000:.0f} ms, "
                f"p95 {percentile(stock_seconds, 0.95) * 1000:.0f} ms"
            )
            print(
                f"one label at a time ({len(single_seconds)}): decision to TikTok p50 "
                f"{statistics.median(single_seconds) * 1000:.0f} ms, "
                f"p95 {percentile(single_seconds, 0.95) * 1000:.0f} ms"
            )
            print(
                f"reference: a direct signed ship call p95 {p95_raw * 1000:.0f} ms; "
                f"outbox/direct p95 ratio {p95_ship / p95_raw:.1f}"
            )
            print("checked: every package shipped once with its tracking number; TikTok shows every true quantity")
    finally:
        if cluster is not None:
            stop(cluster)
        stop(emulator_proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
