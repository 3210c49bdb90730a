#!/usr/bin/env python3
"""Scale-out benchmark: the production topology with one task cluster, then two, on PostgreSQL and Redis.

    python bench/scaleout.py [--orders 2000] [--workers 4] [--hook-workers 4] [--passes 0]
                             [--port-base 8300] [--database-name NAME] [--redis-url URL]

It creates a fresh PostgreSQL database and starts a partner endpoint on
loopback that answers every webhook in 50 ms. Then, for 1 and for 2 clusters,
it starts a fresh localstripe (the Stripe emulator; it slows as it fills up),
provisions a seller with a saved card and Auto Checkout on and a partner whose
webhook URL is that endpoint, and:

* loads ``--orders`` orders on hold with one line and its stock reservation
  each, with set-based inserts (``bulk_create``), their holds ending in a year;
* starts the topology of the ``Procfile`` with ``scripts/topology.py``'s own
  code: one gunicorn (2 workers), C main task clusters of ``--workers``
  processes and C partner-delivery clusters of ``--hook-workers`` processes,
  all on this database and on Redis (``--redis-url``, emptied first);
* waits for every cluster to report to Redis, then makes the hold of every
  order end now (one ``UPDATE``) and queues the timer pass, as the
  every-minute schedule does, ``--passes`` times (default: once per task
  cluster; passes share the due rows with SKIP LOCKED, and the other workers
  charge the orders whose hold has ended meanwhile);
* times until every order is ``ready_to_fulfill`` (the hold ended; Auto
  Checkout charged the card on the emulator; the payment moved the order) and
  every webhook event those transitions wrote was delivered to the endpoint.

It prints one line per run with the orders per second, the webhook deliveries
per second and how busy the machine's CPUs were, then the throughput ratio
2 clusters / 1 (goal >= 1.6) and the duplicated effects found over both runs
(goal 0 each): orders charged more than once (successful payments per order in
the database, and PaymentIntents at the emulator beyond our payments), events
the endpoint received more than once, and orders with a transition recorded
more than once in their audit trail.

Needs PostgreSQL on 127.0.0.1 (see bench/common.py) and Redis. Ports: the
emulator on ``--port-base``, the endpoint on +1, gunicorn on +2. The database
is dropped at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from checkout import PUBLISHABLE_KEY, SECRET_KEY, start_emulator
from common import ROOT, fresh_database
from common import setup_django as common_setup_django

sys.path.insert(0, str(ROOT / "scripts"))
from topology import Topology, formation, read_procfile

SKUS = 20
ENDPOINT_DELAY = 0.05


class Endpoint:
    """A partner's webhook endpoint on loopback: answers 200 after 50 ms and counts each event id it gets."""

    def __init__(self, port: int):
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(ENDPOINT_DELAY)
                with endpoint.lock:
                    endpoint.received[self.headers.get("X-Backoffice-Event-Id", "")] += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a worker closing its kept-alive connection is not an error

        self.server = Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{port}/hooks"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def configure(database_url: str, emulator_url: str, redis_url: str) -> dict[str, str]:
    env = common_setup_django(
        database_url,
        {
            "REDIS_URL": redis_url,
            "STRIPE_API_HOST": emulator_url,
            "STRIPE_SECRET_KEY": SECRET_KEY,
            "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
            "Q_SYNC": "false",
            # The endpoint is plain http on loopback: allowed for this run only.
            "WEBHOOK_ALLOW_HTTP": "true",
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "SITE_URL": "http://127.0.0.1:8000",
        },
    )
    # Each cluster's kind is given by the bench when it starts it.
    env.pop("Q_CLUSTER_NAME", None)
    return env


def provision(emulator_url: str, endpoint_url: str, code: str) -> dict:
    """Seller with a saved card and Auto Checkout on, stock, a partner whose webhooks go to the endpoint."""
    from accounts.models import Seller
    from accounts.services import partner_create, seller_create
    from core.actors import Actor
    from fulfillment.services import stock_import_csv
    from payments.selectors import seller_customer
    from payments.services import card_setup_complete, card_setup_start
    from webhooks.services import partner_webhook_configure

    actor = Actor.system("bench")
    seller = seller_create(code=code, name=f"Scale-out seller {code}", email="scale@example.com", actor=actor)
    partner = partner_create(name=f"Scale-out partner {code}", seller_codes=[code], actor=actor)
    stock_import_csv(
        text="seller,sku,name,wholesale_cost,on_hand\n"
        + "".join(f"{code},SKU-{i},Product {i},7.50,10000000\n" for i in range(SKUS)),
        actor=actor,
    )
    setup = card_setup_start(seller=seller, actor=actor)
    requests.post(
        f"{emulator_url}/v1/setup_intents/{setup.setup_intent_id}/confirm",
        json={
            "key": setup.publishable_key,
            "client_secret": setup.client_secret,
            "payment_method_data": {
                "type": "card",
                "card": {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"},
            },
        },
        timeout=10,
    ).raise_for_status()
    card_setup_complete(seller=seller, setup_intent_id=setup.setup_intent_id, actor=actor)
    Seller.objects.filter(pk=seller.pk).update(auto_checkout=True)
    partner_webhook_configure(partner_id=partner.pk, url=endpoint_url, actor=actor)
    return {"seller": seller.pk, "partner": partner.pk, "customer": seller_customer(seller=seller).id}


def load_orders(*, count: int, label: str, seller_id: int, partner_id: int) -> list[int]:
    """``count`` orders on hold (hold ending in a year), each with a line and its reservation: set-based inserts."""
    from django.db import transaction
    from django.db.models import F

    from fulfillment.models import SKU, Reservation, Stock
    from orders.models import Order, OrderLine, OrderStatus

    skus = list(SKU.objects.filter(seller_id=seller_id).order_by("code"))
    now = datetime.now(UTC)
    paid_at = now - timedelta(minutes=5)
    far = now + timedelta(days=365)
    with transaction.atomic():
        orders = Order.objects.bulk_create(
            [
                Order(
                    partner_id=partner_id,
                    seller_id=seller_id,
                    external_id=f"{label}-{n:06d}",
                    status=OrderStatus.ON_HOLD,
                    placed_at=paid_at - timedelta(minutes=1),
                    buyer_paid_at=paid_at,
                    payment_due_at=paid_at + timedelta(hours=24),
                    hold_until=far,
                    ship_by=now + timedelta(hours=72),
                    tracking_due=now + timedelta(hours=72),
                    deliver_by=now + timedelta(days=11),
                    buyer_name="Jane Doe",
                    ship_line1=f"{n} Main St",
                    ship_city="Austin",
                    ship_region="TX",
                    ship_postal_code="73301",
                    ship_country="US",
                )
                for n in range(count)
            ],
            batch_size=1000,
        )
        lines = OrderLine.objects.bulk_create(
            [
                OrderLine(
                    order=order,
                    sku=skus[n % len(skus)],
                    sku_code=skus[n % len(skus)].code,
                    quantity=1 + n % 3,
                    unit_price=1999,
                )
                for n, order in enumerate(orders)
            ],
            batch_size=1000,
        )
        Reservation.objects.bulk_create(
            [Reservation(line=line, sku_id=line.sku_id, quantity=line.quantity) for line in lines], batch_size=1000
        )
        reserved = Counter()
        for line in lines:
            reserved[line.sku_id] += line.quantity
        for sku_id, quantity in reserved.items():
            Stock.objects.filter(sku_id=sku_id).update(reserved=F("reserved") + quantity)
    return [order.pk for order in orders]


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat (Linux)."""
    try:
        fields = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def group_cpu(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the live processes of each process group, by label."""
    tick = os.sysconf("SC_CLK_TCK")
    by_group = {pgid: label for label, pgid in groups.items()}
    used: Counter[str] = Counter()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        label = by_group.get(int(fields[2]))
        if label is not None:
            used[label] += (int(fields[11]) + int(fields[12])) / tick
    return dict(used)


def wait_for_clusters(expected: int, topology: Topology, timeout: float = 120) -> None:
    from django_q.status import Stat

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gone = topology.exited()
        if gone is not None:
            raise SystemExit(f"{gone.label} exited with status {gone.proc.returncode}")
        if len([s for s in Stat.get_all() if s.status in ("Idle", "Working")]) >= expected:
            return
        time.sleep(0.2)
    raise SystemExit(f"fewer than {expected} clusters reported within {timeout:.0f} s")


def run(*, clusters: int, args, env: dict[str, str], ids: list[int], emulator_pid: int, log) -> dict:
    """Start the topology with ``clusters`` task and delivery clusters, make ``ids`` due, time until all is done."""
    import redis
    from django.db import connections
    from django.db.models import Q
    from django_q.tasks import async_task

    from orders.models import Order, OrderStatus
    from webhooks.models import WebhookEvent, WebhookEventStatus

    redis.Redis.from_url(args.redis_url).flushdb()
    processes = formation(read_procfile(ROOT / "Procfile"), {"tasks": clusters, "hooks": clusters})
    topo_env = {
        **env,
        "BIND": f"127.0.0.1:{args.port_base + 2}",
        "WEB_CONCURRENCY": "2",
        "Q_WORKERS": str(args.workers),
        "WEBHOOK_WORKERS": str(args.hook_workers),
        # A pass over thousands of due rows on a busy machine can outlive the default 120 s task timeout;
        # killing it is harmless (each row is its own transaction) but would measure the restarts.
        "Q_TIMEOUT": str(int(args.timeout)),
        "Q_RETRY": str(int(args.timeout) + 60),
    }
    topology = Topology(processes, topo_env, output=log, grace=30).start()
    try:
        wait_for_clusters(2 * clusters, topology)
        passes = args.passes or clusters
        events = WebhookEvent.objects.filter(order_id__in=ids)
        done_events = events.filter(status=WebhookEventStatus.DELIVERED)
        pending_orders = Order.objects.filter(pk__in=ids).exclude(status=OrderStatus.READY_TO_FULFILL)
        groups = {p.label.split(".")[0] + f".{n}": p.proc.pid for n, p in enumerate(topology.processes)}
        groups["stripe emulator"] = emulator_pid
        cpu0 = group_cpu(groups)
        self0 = time.process_time()
        busy0, total0 = cpu_times()
        started = time.perf_counter()
        holds_done = charges_done = None
        Order.objects.filter(pk__in=ids).update(hold_until=datetime.now(UTC))
        for _ in range(passes):
            async_task("backoffice.tasks.process_due_timers")
        deadline = time.monotonic() + args.timeout
        on_hold = Order.objects.filter(pk__in=ids, status=OrderStatus.ON_HOLD)
        while pending_orders.exists() or events.exclude(status=WebhookEventStatus.DELIVERED).exists():
            if holds_done is None and not on_hold.exists():
                holds_done = time.perf_counter() - started
            if charges_done is None and not pending_orders.exists():
                charges_done = time.perf_counter() - started
            gone = topology.exited()
            if gone is not None:
                raise SystemExit(f"{gone.label} exited with status {gone.proc.returncode}")
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"not done after {args.timeout:.0f} s: {pending_orders.count()} orders not ready, "
                    f"{events.filter(~Q(status=WebhookEventStatus.DELIVERED)).count()} events not delivered"
                )
            time.sleep(0.5)  # polling for the workers' results; this process's CPU is measured too
        elapsed = time.perf_counter() - started
        busy1, total1 = cpu_times()
        cpu1 = group_cpu(groups)
        self_cpu = time.process_time() - self0
        delivered = done_events.count()
    finally:
        connections.close_all()
        topology.stop()
    cpu = (busy1 - busy0) / (total1 - total0) if total1 > total0 else float("nan")
    spent: Counter[str] = Counter()
    for label, seconds in cpu1.items():
        spent[label.split(".")[0]] += seconds - cpu0.get(label, 0.0)
    spent["bench and endpoint"] = self_cpu
    return {
        "clusters": clusters,
        "seconds": elapsed,
        "orders_per_s": len(ids) / elapsed,
        "deliveries_per_s": delivered / elapsed,
        "deliveries": delivered,
        "cpu": cpu,
        "passes": passes,
        "holds_ended_s": holds_done,
        "charged_s": charges_done,
        "cpu_seconds": {label: round(seconds, 1) for label, seconds in spent.most_common()},
    }


def duplicates(all_ids: list[int], endpoint: Endpoint, emulator_url: str, shop: dict) -> dict[str, int]:
    from django.db.models import Count

    from orders.models import OrderEvent
    from payments.models import Payment, PaymentOrder, PaymentStatus
    from webhooks.models import WebhookDelivery, WebhookEvent

    charged = Counter(
        PaymentOrder.objects.filter(order_id__in=all_ids, payment__status=PaymentStatus.SUCCEEDED).values_list(
            "order_id", flat=True
        )
    )
    intents, after = 0, None
    while True:
        page = requests.get(
            f"{emulator_url}/v1/payment_intents",
            params={"limit": 1000, **({"starting_after": after} if after else {})},
            auth=(SECRET_KEY, ""),
            timeout=600,  # the emulator lists slowly once it holds thousands of objects
        ).json()
        intents += sum(1 for pi in page["data"] if pi["customer"] == shop["customer"])
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    event_uuids = {str(u) for u in WebhookEvent.objects.filter(order_id__in=all_ids).values_list("uuid", flat=True)}
    delivered_twice = WebhookDelivery.objects.filter(event__order_id__in=all_ids, status_code__lt=300).values(
        "event_id"
    )
    repeated = (
        OrderEvent.objects.filter(order_id__in=all_ids)
        .values("order_id", "action")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    return {
        "orders_not_charged_once": sum(1 for pk in all_ids if charged[pk] != 1),
        "orders_charged_twice": sum(1 for n in charged.values() if n > 1),
        "emulator_intents_beyond_payments": intents - Payment.objects.filter(seller_id=shop["seller"]).count(),
        "events_received_twice": sum(1 for uuid, n in endpoint.received.items() if n > 1 and uuid in event_uuids),
        "events_never_received": len(event_uuids - set(endpoint.received)),
        "events_with_two_successful_attempts": delivered_twice.annotate(n=Count("id")).filter(n__gt=1).count(),
        "orders_with_a_transition_twice": len({row["order_id"] for row in repeated}),
    }


DUPLICATE_KEYS = (
    "orders_not_charged_once",
    "orders_charged_twice",
    "emulator_intents_beyond_payments",
    "events_received_twice",
    "events_never_received",
    "events_with_two_successful_attempts",
    "orders_with_a_transition_twice",
)


def _stop_emulator(emulator) -> None:
    emulator.terminate()
    try:
        emulator.wait(timeout=10)
    except Exception:  # noqa: BLE001 - killed instead
        emulator.kill()
        emulator.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description="Throughput with two task clusters divided by one; duplicates.")
    parser.add_argument("--orders", type=int, default=2000, help="orders whose hold ends at once, per run (2000)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes per main task cluster (4)")
    parser.add_argument("--hook-workers", type=int, default=4, help="worker processes per delivery cluster (4)")
    parser.add_argument("--passes", type=int, default=0, help="timer passes queued (default: one per task cluster)")
    parser.add_argument("--port-base", type=int, default=8300, help="emulator port; endpoint +1, web +2 (8300)")
    parser.add_argument("--database-name", default=None, help="name of the throw-away database (replaced, dropped)")
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", ""), help="Redis database to use and EMPTY (REDIS_URL)"
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds a run may take (900)")
    parser.add_argument("--log", type=Path, help="write the topology's output to this file")
    args = parser.parse_args()
    # Stop cleanly (topology, emulator, database) on SIGTERM, and on Ctrl-C even when started in the background.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not args.redis_url:
        raise SystemExit("set REDIS_URL (or --redis-url) to a Redis database this benchmark may empty")

    emulator_url = f"http://127.0.0.1:{args.port_base}"
    endpoint = Endpoint(args.port_base + 1)
    log = args.log.open("w") if args.log else io.StringIO()
    results, dupes = [], Counter()
    emulator = None
    try:
        with fresh_database("scaleout", args.database_name) as database_url:
            env = configure(database_url, emulator_url, args.redis_url)
            for clusters in (1, 2):
                # A fresh emulator (and seller) per run: localstripe keeps every object in memory and slows as
                # it grows, which would charge the second run for the first one's PaymentIntents.
                emulator = start_emulator(args.port_base, False)
                shop = provision(emulator_url, endpoint.url, f"SCALE{clusters}")
                print(f"  {clusters} cluster(s): loading {args.orders} orders on hold...", file=sys.stderr)
                ids = load_orders(
                    count=args.orders, label=f"RUN{clusters}", seller_id=shop["seller"], partner_id=shop["partner"]
                )
                result = run(clusters=clusters, args=args, env=env, ids=ids, emulator_pid=emulator.pid, log=log)
                results.append(result)
                print(
                    f"scaleout {clusters} task cluster(s) + {clusters} delivery cluster(s): "
                    f"{result['orders_per_s']:.1f} orders/s, {result['deliveries_per_s']:.1f} webhook deliveries/s "
                    f"({args.orders} orders, {result['deliveries']} deliveries in {result['seconds']:.1f} s; "
                    f"{result['passes']} timer passes; CPU busy {result['cpu']:.0%} of {os.cpu_count()} cores)",
                    flush=True,
                )
                print(
                    f"  holds all ended after {result['holds_ended_s']:.1f} s, orders all charged after "
                    f"{result['charged_s']:.1f} s; CPU seconds used: {json.dumps(result['cpu_seconds'])}",
                    flush=True,
                )
                dupes.update(duplicates(ids, endpoint, emulator_url, shop))
                _stop_emulator(emulator)
                emulator = None
    finally:
        endpoint.stop()
        if emulator is not None:
            _stop_emulator(emulator)
        if args.log:
            log.close()
    dupes = {key: dupes[key] for key in DUPLICATE_KEYS}
    ratio = results[1]["orders_per_s"] / results[0]["orders_per_s"]
    print(
        f"scaleout ratio: {ratio:.2f} (2 clusters {results[1]['orders_per_s']:.1f} / 1 cluster "
        f"{results[0]['orders_per_s']:.1f} orders/s; goal >= 1.6)"
    )
    print("duplicated effects (goal 0 each): " + json.dumps(dupes))
    return 0 if not any(dupes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
