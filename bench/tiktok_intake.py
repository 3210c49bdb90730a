#!/usr/bin/env python3
"""TikTok intake benchmark: new orders by signed webhook through the emulator, against POST /api/v1/orders/.

    python bench/tiktok_intake.py [--orders 1000] [--rounds 4] [--workers 2] [--cluster-workers 2]

It creates a fresh PostgreSQL database, starts the TikTok Shop emulator
(``devtools.tiktok_emulator``) on a free loopback port, provisions a seller
with SKUs, a partner with an API key, and a TikTok shop connected to the
seller (tokens from the emulator, through ``shop_connect_with_tokens``), then
starts gunicorn (``--workers``) and a django-q2 cluster (``--cluster-workers``),
as production runs. Then, in interleaved rounds so that drift on a shared
machine affects both sides equally:

* API: ``--orders / --rounds`` new orders through ``POST /api/v1/orders/`` from
  8 client threads (two lines each, as ``bench/ingest.py`` sends);
* TikTok: as many new orders placed on the emulator at once; the emulator sends
  each one's signed webhook to ``/tiktok/webhook/`` from 8 threads; our view
  stores it and queues a task; the cluster's task fetches the order's detail from
  the emulator and reconciles it (intake: lines, stock, audit; the link to the
  TikTok order). The round ends when every order of it exists.

It prints ``tiktok intake ratio: R (webhook X orders/s / API Y orders/s), webhook to order p50 A ms, p95 B ms``.
R is the webhook path's throughput as a share of the API's; the goal is R >= 0.5.
The latency runs from the emulator sending a webhook to the order's row being
created. Afterwards it checks that every TikTok order exists exactly once and
that every event was processed. The shop's poller is left off, so every order
comes in by its webhook. Set ``REDIS_URL`` to use Redis as the task broker (the
default is the database). Needs PostgreSQL on 127.0.0.1 (see bench/common.py);
the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import requests
from common import ROOT, api_order_body, free_port, fresh_database, stop, wait_for
from common import TIKTOK_APP_KEY as APP_KEY
from common import TIKTOK_APP_SECRET as APP_SECRET
from common import TikTokEmulator as Emulator
from common import tiktok_setup_django as setup_django

SELLER = "BENCH"
SKU_COUNT = 50
CLIENT_THREADS = 8


def provision(emulator: Emulator):
    """Seller, stock, partner and key (for the API side), and the seller's TikTok shop (poller off)."""
    from accounts.services import partner_api_key_issue, partner_create, seller_create
    from core.actors import Actor
    from fulfillment.services import stock_import_csv
    from tiktok.mapping import when
    from tiktok.models import Shop
    from tiktok.services import shop_connect_with_tokens

    actor = Actor.system("bench")
    seller_create(code=SELLER, name="Benchmark seller", email="bench@example.com", actor=actor)
    partner = partner_create(name="Benchmark partner", seller_codes=[SELLER], actor=actor)
    _, raw_key = partner_api_key_issue(partner_id=partner.pk, actor=actor)
    rows = ["seller,sku,name,wholesale_cost,on_hand"]
    rows += [f"{SELLER},SKU-{i:03d},Product {i},7.50,1000000" for i in range(SKU_COUNT)]
    stock_import_csv(text="\n".join(rows) + "\n", actor=actor)
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
    Shop.objects.filter(pk=shop.pk).update(next_poll_at=None)  # every order must come by its webhook
    return raw_key, shop


class ApiClient:
    """``bench/ingest.py``'s order body, from a pool of keep-alive sessions."""

    def __init__(self, base: str, api_key: str):
        self.base = base
        self.headers = {"Authorization": f"Api-Key {api_key}", "Content-Type": "application/json"}
        self.pool = ThreadPoolExecutor(max_workers=CLIENT_THREADS)
        self.local = threading.local()
        self.counter = 0
        self.lock = threading.Lock()
        self.placed_at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.headers.update(self.headers)
        return self.local.session

    def order(self, _):
        with self.lock:
            self.counter += 1
            number = self.counter
        rng = random.Random(number)
        body = api_order_body(
            external_id=f"API-{number:07d}",
            seller=SELLER,
            placed_at=self.placed_at,
            rng=rng,
            sku_count=SKU_COUNT,
        )
        response = self.session().post(f"{self.base}/api/v1/orders/", data=json.dumps(body))
        return response.status_code == 201 or f"{response.status_code} {response.text[:200]}"

    def timed(self, count: int) -> float:
        started = time.perf_counter()
        results = list(self.pool.map(self.order, range(count)))
        elapsed = time.perf_counter() - started
        failures = [r for r in results if r is not True]
        if failures:
            raise SystemExit(f"{len(failures)} of {count} API orders failed, e.g. {failures[0]}")
        return elapsed


def tiktok_timed(emulator: Emulator, shop, count: int, cluster: subprocess.Popen, rng: random.Random) -> float:
    """Place ``count`` orders on the emulator at once and wait until every one exists here."""
    from orders.models import Order

    lines = [
        {"seller_sku": f"SKU-{i:03d}", "quantity": rng.randint(1, 3), "price": "19.99"}
        for i in rng.sample(range(SKU_COUNT), 2)
    ]
    before = Order.objects.filter(partner_id=shop.partner_id).count()
    started = time.perf_counter()
    emulator.control("orders/bulk", {"shop_id": shop.shop_id, "count": count, "lines": lines})
    target = before + count
    deadline = time.monotonic() + float(os.environ.get("BENCH_ROUND_TIMEOUT", "600"))
    while Order.objects.filter(partner_id=shop.partner_id).count() < target:
        if cluster.poll() is not None:
            raise SystemExit(f"the cluster exited with status {cluster.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"TikTok orders missing after the round timeout: {target - before} expected")
        time.sleep(0.02)  # polling for the workers' results
    return time.perf_counter() - started


def latencies(emulator: Emulator, shop) -> list[float]:
    """Seconds from each order's webhook being sent to its order row being created."""
    from orders.models import Order

    created = dict(Order.objects.filter(partner_id=shop.partner_id).values_list("external_id", "created_at").iterator())
    found = []
    for note in emulator.control("notifications", method="GET")["notifications"]:
        if note["type"] == 1 and note["sent_at"] and note["order_id"] in created:
            found.append(created[note["order_id"]].timestamp() - note["sent_at"])
    return found


def verify(emulator: Emulator, shop, expected: int) -> None:
    from django.db.models import Count

    from orders.models import Order
    from tiktok.models import EventStatus, TikTokEvent, TikTokOrder

    notes = [n for n in emulator.control("notifications", method="GET")["notifications"] if n["type"] == 1]
    ids = {n["order_id"] for n in notes}
    if len(ids) != expected:
        raise SystemExit(f"the emulator placed {len(ids)} orders, expected {expected}")
    refused = [n for n in notes if n["status_code"] != 200]
    if refused:
        raise SystemExit(f"{len(refused)} webhooks were not acknowledged with 200, e.g. {refused[0]}")
    ours = Order.objects.filter(partner_id=shop.partner_id)
    doubled = ours.values("external_id").annotate(n=Count("pk")).filter(n__gt=1).count()
    missing = ids - set(ours.values_list("external_id", flat=True))
    if doubled or missing or ours.count() != expected:
        raise SystemExit(f"orders doubled: {doubled}, missing: {len(missing)}, total {ours.count()} of {expected}")
    if TikTokOrder.objects.filter(shop=shop).count() != expected:
        raise SystemExit("some TikTok order has no link to ours")
    unprocessed = TikTokEvent.objects.exclude(status=EventStatus.PROCESSED).count()
    if unprocessed:
        raise SystemExit(f"{unprocessed} events were not processed")


def main() -> int:
    parser = argparse.ArgumentParser(description="TikTok webhook intake throughput divided by the API's.")
    parser.add_argument("--orders", type=int, default=1000, help="orders per side (default 1000)")
    parser.add_argument("--warmup", type=int, default=40, help="unmeasured orders per side first (default 40)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--cluster-workers", type=int, default=2, help="django-q2 worker processes (default 2)")
    args = parser.parse_args()
    if args.orders % args.rounds:
        raise SystemExit("--orders must be a multiple of --rounds")

    emulator_port, web_port = free_port(), free_port()
    emulator_url, base = f"http://127.0.0.1:{emulator_port}", f"http://127.0.0.1:{web_port}"
    emulator_proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.tiktok_emulator",
            "--port",
            str(emulator_port),
            "--app-key",
            APP_KEY,
            "--app-secret",
            APP_SECRET,
            "--webhook-url",
            f"{base}/tiktok/webhook/",
            "--webhook-threads",
            str(CLIENT_THREADS),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = cluster = None
    try:
        wait_for(f"{emulator_url}/_emulator/notifications", emulator_proc, "the TikTok emulator")
        emulator = Emulator(emulator_url)
        with fresh_database("tiktok") as database_url:
            env = setup_django(database_url, emulator_url)
            api_key, shop = provision(emulator)
            from django.db import connections

            connections.close_all()
            server = subprocess.Popen(
                [
                    os.path.join(os.path.dirname(sys.executable), "gunicorn"),
                    "backoffice.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{web_port}",
                    "--workers",
                    str(args.workers),
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=env,
                start_new_session=True,
            )
            cluster = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env={**env, "Q_WORKERS": str(args.cluster_workers)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            api = ApiClient(base, api_key)
            wait_for(f"{base}/api/v1/ping/", server, "gunicorn", headers=api.headers)
            rng = random.Random(2024)
            api.timed(args.warmup)
            tiktok_timed(emulator, shop, args.warmup, cluster, rng)
            per_round = args.orders // args.rounds
            api_seconds = tiktok_seconds = 0.0
            for _ in range(args.rounds):
                api_seconds += api.timed(per_round)
                tiktok_seconds += tiktok_timed(emulator, shop, per_round, cluster, rng)
            api.pool.shutdown()
            time.sleep(1)  # let the last tasks mark their events processed
            verify(emulator, shop, args.orders + args.warmup)
            spans = sorted(latencies(emulator, shop)[args.warmup :])
    finally:
        for proc, sig in ((cluster, signal.SIGINT), (server, signal.SIGTERM), (emulator_proc, signal.SIGTERM)):
            if proc is not None:
                stop(proc, sig)
    api_rate, tiktok_rate = args.orders / api_seconds, args.orders / tiktok_seconds
    p50 = statistics.median(spans) * 1000
    p95 = spans[int(len(spans) * 0.95) - 1] * 1000
    print(
        f"tiktok intake ratio: {tiktok_rate / api_rate:.2f} (webhook {tiktok_rate:.1f} orders/s / API "
        f"{api_rate:.1f} orders/s), webhook to order p50 {p50:.0f} ms, p95 {p95:.0f} ms; "
        f"{args.orders} orders each way, none lost or doubled"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
