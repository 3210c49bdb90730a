#!/usr/bin/env python3
"""Ingest benchmark: ``POST /api/v1/orders/`` throughput relative to a trivial authenticated endpoint.

    python bench/ingest.py [--requests 2000] [--concurrency 8] [--workers 2]

It creates a fresh PostgreSQL database, provisions a seller, a partner with an
API key and SKUs with plenty of stock, then starts gunicorn on a free loopback
port. After a warm-up it sends the same number of requests to each endpoint
from a pool of client threads (one keep-alive session per thread), in
interleaved rounds so that drift on a shared machine affects both equally:

* ``POST /api/v1/orders/`` with a new ``external_id`` each time (two lines,
  stock reserved, audit rows written: the full intake path);
* ``GET /api/v1/ping/``, which only authenticates the key and answers the
  partner's name, the floor cost of any API request on this server.

It prints one line, ``ingest ratio: R (orders X req/s / ping Y req/s)``. R is
the share of the bare request-handling throughput that intake keeps. It has no
goal: the README records the last figure, to compare a change against. Needs
PostgreSQL on 127.0.0.1 (see bench/common.py); the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import requests
from common import ROOT, api_order_body, free_port, fresh_database, setup_django

SKU_COUNT = 50
SELLER = "BENCH"


def provision() -> str:
    """Create the seller, partner, key and stock through the services; return the raw API key."""
    from accounts.services import partner_api_key_issue, partner_create, seller_create
    from core.actors import Actor
    from fulfillment.services import stock_import_csv

    actor = Actor.system("bench")
    seller_create(code=SELLER, name="Benchmark seller", email="bench@example.com", actor=actor)
    partner = partner_create(name="Benchmark partner", seller_codes=[SELLER], actor=actor)
    _, raw_key = partner_api_key_issue(partner_id=partner.pk, actor=actor)
    rows = ["seller,sku,name,wholesale_cost,on_hand"]
    rows += [f"{SELLER},SKU-{i:03d},Product {i},7.50,1000000" for i in range(SKU_COUNT)]
    stock_import_csv(text="\n".join(rows) + "\n", actor=actor)
    return raw_key


def start_gunicorn(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    return subprocess.Popen(
        [
            gunicorn,
            "backoffice.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )


def wait_until_up(base: str, headers: dict[str, str], server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {server.returncode}")
        try:
            if requests.get(f"{base}/api/v1/ping/", headers=headers, timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or workers still booting
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 60 s")


class Client:
    """Sends requests from a thread pool; each thread keeps its own keep-alive session."""

    def __init__(self, base: str, api_key: str, concurrency: int):
        self.base = base
        self.headers = {"Authorization": f"Api-Key {api_key}", "Content-Type": "application/json"}
        self.pool = ThreadPoolExecutor(max_workers=concurrency)
        self.local = threading.local()
        self.counter = 0
        self.counter_lock = threading.Lock()
        self.placed_at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.headers.update(self.headers)
        return self.local.session

    def ping(self, _):
        response = self.session().get(f"{self.base}/api/v1/ping/")
        return response.status_code == 200 or f"ping: {response.status_code} {response.text[:200]}"

    def order(self, _):
        with self.counter_lock:
            self.counter += 1
            number = self.counter
        rng = random.Random(number)
        body = api_order_body(
            external_id=f"BENCH-{number:07d}",
            seller=SELLER,
            placed_at=self.placed_at,
            rng=rng,
            sku_count=SKU_COUNT,
        )
        response = self.session().post(f"{self.base}/api/v1/orders/", data=json.dumps(body))
        return response.status_code == 201 or f"order: {response.status_code} {response.text[:200]}"

    def timed(self, call, count: int) -> float:
        """Send ``count`` requests through ``call``; return the seconds taken. Any failure aborts."""
        started = time.perf_counter()
        results = list(self.pool.map(call, range(count)))
        elapsed = time.perf_counter() - started
        failures = [r for r in results if r is not True]
        if failures:
            raise SystemExit(f"{len(failures)} of {count} requests failed, e.g. {failures[0]}")
        return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description="POST /api/v1/orders/ throughput divided by GET /api/v1/ping/ throughput."
    )
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per endpoint (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests per endpoint first (default 200)")
    parser.add_argument(
        "--rounds", type=int, default=4, help="interleaved rounds the requests are split into (default 4)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    args = parser.parse_args()

    with fresh_database("ingest") as database_url:
        env = setup_django(database_url)
        api_key = provision()
        from django.db import connections

        connections.close_all()  # the server has the database to itself from here on
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_gunicorn(env, port, args.workers)
        try:
            client = Client(base, api_key, args.concurrency)
            wait_until_up(base, client.headers, server)
            client.timed(client.ping, args.warmup)
            client.timed(client.order, args.warmup)
            per_round = max(1, args.requests // args.rounds)
            ping_seconds = order_seconds = 0.0
            for _ in range(args.rounds):
                ping_seconds += client.timed(client.ping, per_round)
                order_seconds += client.timed(client.order, per_round)
            client.pool.shutdown()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
    total = per_round * args.rounds
    ping_rate, order_rate = total / ping_seconds, total / order_seconds
    print(f"ingest ratio: {order_rate / ping_rate:.2f} (orders {order_rate:.1f} req/s / ping {ping_rate:.1f} req/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
