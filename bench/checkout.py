#!/usr/bin/env python3
"""Checkout benchmark: Auto Checkout charging due orders, relative to the emulator's raw PaymentIntent rate.

    python bench/checkout.py [--orders 1000] [--rounds 4] [--workers 2] [--persisting-emulator]

It creates a fresh PostgreSQL database and starts localstripe (the Stripe
emulator) on a free loopback port. It provisions a seller with a card saved
through a SetupIntent and Auto Checkout on, and ``--orders`` orders whose
hold has ended, each waiting for its wholesale payment (awaiting checkout),
not yet due. It starts a django-q2 cluster (``manage.py qcluster``) with
``--workers`` worker processes, as production runs. Then, in interleaved
rounds so that drift (the emulator keeps every object in memory and slows as
it grows) affects both sides equally:

* raw: ``--orders / --rounds`` PaymentIntent create+confirm calls straight to
  the emulator with stripe-python from ``--workers`` threads, with exactly the
  parameters a charge sends (customer, saved card, amount, off-session,
  confirm, idempotency key);
* ours: as many Auto Checkout orders are made due, and ``process_due_timers()``
  (what the every-minute schedule runs) leases them and enqueues the charges;
  the cluster's workers charge them: lock the order, write the payment in
  ``processing``, commit, call Stripe, record the outcome (the payment
  succeeds, the order moves to ``ready_to_fulfill``, audit rows). The round
  ends when every order of it is ready to fulfil.

It prints one line, ``checkout ratio: R (ours X orders/s / raw Y intents/s)``;
R is the share of the emulator's bare charging rate that our whole checkout
path keeps, the goal is R >= 0.5. Afterwards it checks every order was
charged exactly once and the emulator holds no PaymentIntent we did not record.

By default the emulator runs with its state file off (it otherwise rewrites a
pickle of everything it holds in /tmp after every object it creates, which
slows it as it grows and would overwrite a running ``make run`` emulator's
state); ``--persisting-emulator`` runs it exactly as shipped. Needs
PostgreSQL on 127.0.0.1 (see bench/common.py); the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import requests
from common import ROOT, free_port, fresh_database, stop
from common import setup_django as common_setup_django

SELLER = "BENCH"
SECRET_KEY = "sk_test_bench" + "0" * 24
PUBLISHABLE_KEY = "pk_test_bench" + "0" * 24
NO_PERSIST = (
    "import sys, localstripe.resources as r; r.Store.dump_to_disk = lambda self: None; "
    "from localstripe.server import start; sys.argv[0] = 'localstripe'; start()"
)


def start_emulator(port: int, persisting: bool) -> subprocess.Popen:
    if persisting:
        argv = [os.path.join(os.path.dirname(sys.executable), "localstripe"), "--port", str(port), "--from-scratch"]
    else:
        argv = [sys.executable, "-c", NO_PERSIST, "--port", str(port), "--from-scratch"]
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"localstripe exited with status {proc.returncode}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/v1/customers", auth=(SECRET_KEY, ""), timeout=1).ok:
                return proc
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("localstripe did not answer within 30 s")


def setup_django(database_url: str, emulator_url: str) -> dict[str, str]:
    """Production settings (bench/common.py) talking to this run's emulator; migrate; return the environment."""
    return common_setup_django(
        database_url,
        {
            "STRIPE_API_HOST": emulator_url,
            "STRIPE_SECRET_KEY": SECRET_KEY,
            "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
            "Q_SYNC": "false",
            "SITE_URL": "http://127.0.0.1:8000",
        },
    )


def provision(emulator_url: str, orders: int) -> dict:
    """Seller, stock, a saved card, Auto Checkout on, and ``orders`` orders awaiting checkout (none due yet)."""
    from django.db import transaction

    from accounts.models import Seller
    from accounts.services import partner_create, seller_create
    from backoffice.timers import process_due_timers
    from core.actors import Actor
    from fulfillment.services import stock_import_csv
    from orders.models import Order, OrderStatus
    from orders.services import IntakeData, IntakeLine, order_intake
    from payments.models import AutoCheckout
    from payments.selectors import seller_customer
    from payments.services import card_setup_complete, card_setup_start

    actor = Actor.system("bench")
    seller = seller_create(code=SELLER, name="Benchmark seller", email="bench@example.com", actor=actor)
    partner = partner_create(name="Benchmark partner", seller_codes=[SELLER], actor=actor)
    stock_import_csv(
        text="seller,sku,name,wholesale_cost,on_hand\n"
        + "".join(f"{SELLER},SKU-{i},Product {i},7.50,1000000\n" for i in range(10)),
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

    paid_at = datetime.now(UTC) - timedelta(hours=2)
    for number in range(orders):
        order_intake(
            partner=partner,
            data=IntakeData(
                external_id=f"BENCH-{number:06d}",
                seller_code=SELLER,
                placed_at=paid_at,
                buyer_paid_at=paid_at,
                lines=[IntakeLine(sku=f"SKU-{number % 10}", quantity=1 + number % 3, unit_price=1999)],
                buyer={"name": "Jane Doe"},
                shipping_address={"city": "Austin", "region": "TX", "country": "US"},
            ),
            actor=actor,
        )
    process_due_timers()  # the holds end: every order now awaits checkout (Auto Checkout still off)
    ids = list(Order.objects.filter(status=OrderStatus.AWAITING_CHECKOUT).order_by("pk").values_list("pk", flat=True))
    if len(ids) != orders:
        raise SystemExit(f"expected {orders} orders awaiting checkout, found {len(ids)}")
    # Auto Checkout holds them all, not due yet; each round makes a slice due.
    far = datetime.now(UTC) + timedelta(days=365)
    with transaction.atomic():
        Seller.objects.filter(pk=seller.pk).update(auto_checkout=True)
        AutoCheckout.objects.bulk_create([AutoCheckout(order_id=pk, seller=seller, next_attempt_at=far) for pk in ids])
    customer = seller_customer(seller=seller)
    return {"ids": ids, "customer": customer.id, "card": customer.default_payment_method_id}


class Raw:
    """PaymentIntent create+confirm straight to the emulator, with what our charges send."""

    def __init__(self, customer: str, card: str):
        import stripe

        self.stripe, self.customer, self.card = stripe, customer, card
        self.counter = 0
        self.lock = threading.Lock()

    def charge(self, _):
        with self.lock:
            self.counter += 1
            number = self.counter
        intent = self.stripe.PaymentIntent.create(
            amount=1500,
            currency="usd",
            customer=self.customer,
            payment_method=self.card,
            payment_method_types=["card"],
            off_session=True,
            confirm=True,
            metadata={"payment_id": f"raw-{number}", "seller": SELLER, "trigger": "raw"},
            idempotency_key=f"raw-{number}",
            api_key=SECRET_KEY,
        )
        return intent["status"] == "succeeded"

    def timed(self, count: int, workers: int) -> float:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(self.charge, range(count)))
        elapsed = time.perf_counter() - started
        if not all(results):
            raise SystemExit("a raw PaymentIntent did not succeed")
        return elapsed


def start_cluster(env: dict[str, str], workers: int) -> subprocess.Popen:
    """The django-q2 cluster that runs the charge tasks, as in production."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env={**env, "Q_WORKERS": str(workers), "Q_SYNC": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def ours_timed(ids: list[int], cluster: subprocess.Popen) -> float:
    """Make ``ids`` due, run a timer pass, and wait until the cluster has charged them all; return the seconds."""
    from django.utils import timezone as dj_timezone

    from backoffice.timers import process_due_timers
    from orders.models import Order, OrderStatus
    from payments.models import AutoCheckout

    AutoCheckout.objects.filter(order_id__in=ids).update(next_attempt_at=dj_timezone.now())
    started = time.perf_counter()
    process_due_timers()
    pending = Order.objects.filter(pk__in=ids).exclude(status=OrderStatus.READY_TO_FULFILL)
    deadline = time.monotonic() + float(os.environ.get("BENCH_ROUND_TIMEOUT", "900"))
    while pending.exists():
        if cluster.poll() is not None:
            raise SystemExit(f"the cluster exited with status {cluster.returncode}")
        if time.monotonic() > deadline:
            from django_q.models import Failure, OrmQ

            failure = Failure.objects.order_by("-stopped").first()
            raise SystemExit(
                f"{pending.count()} orders still not charged after 15 minutes; {OrmQ.objects.count()} tasks queued; "
                f"last failed task: {failure.func if failure else None}: {failure.result if failure else None}"
            )
        time.sleep(0.02)  # polling for the workers' results
    return time.perf_counter() - started


def verify(ids: list[int], emulator_url: str, customer: str, raw_count: int) -> None:
    from collections import Counter

    from orders.models import Order, OrderStatus
    from payments.models import Payment, PaymentOrder, PaymentStatus

    if Order.objects.filter(pk__in=ids).exclude(status=OrderStatus.READY_TO_FULFILL).exists():
        raise SystemExit("some orders did not reach ready_to_fulfill")
    per_order = Counter(
        PaymentOrder.objects.filter(payment__status=PaymentStatus.SUCCEEDED).values_list("order_id", flat=True)
    )
    if per_order != Counter(ids):
        raise SystemExit("some order was not charged exactly once")
    intents, after = 0, None
    while True:
        page = requests.get(
            f"{emulator_url}/v1/payment_intents",
            params={"limit": 1000, **({"starting_after": after} if after else {})},
            auth=(SECRET_KEY, ""),
            timeout=60,
        ).json()
        intents += sum(1 for pi in page["data"] if pi["customer"] == customer)
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    if intents != raw_count + Payment.objects.count():
        raise SystemExit(
            f"the emulator holds {intents} PaymentIntents, expected {raw_count} raw + {Payment.objects.count()} ours"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Auto Checkout charges/s divided by the emulator's raw PaymentIntent rate."
    )
    parser.add_argument("--orders", type=int, default=1000, help="due Auto Checkout orders charged (default 1000)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured charges per side first (default 20)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="cluster worker processes, and raw client threads (default 2, as Q_WORKERS)",
    )
    parser.add_argument("--persisting-emulator", action="store_true", help="run localstripe as shipped (state file on)")
    args = parser.parse_args()
    if args.orders % args.rounds:
        raise SystemExit("--orders must be a multiple of --rounds")

    port = free_port()
    emulator_url = f"http://127.0.0.1:{port}"
    emulator = start_emulator(port, args.persisting_emulator)
    cluster = None
    try:
        with fresh_database("checkout") as database_url:
            env = setup_django(database_url, emulator_url)
            print(f"  provisioning {args.orders + args.warmup} orders...", file=sys.stderr)
            shop = provision(emulator_url, args.orders + args.warmup)
            ids = shop["ids"]
            cluster = start_cluster(env, args.workers)
            raw = Raw(shop["customer"], shop["card"])
            raw.timed(args.warmup, args.workers)
            ours_timed(ids[: args.warmup], cluster)  # also waits for the workers to start
            measured = ids[args.warmup :]
            per_round = args.orders // args.rounds
            raw_seconds = ours_seconds = 0.0
            for r in range(args.rounds):
                raw_seconds += raw.timed(per_round, args.workers)
                ours_seconds += ours_timed(measured[r * per_round : (r + 1) * per_round], cluster)
            stop(cluster)
            cluster = None
            verify(ids, emulator_url, shop["customer"], raw.counter)
    finally:
        if cluster is not None:
            stop(cluster)
        emulator.terminate()
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
    raw_rate, ours_rate = args.orders / raw_seconds, args.orders / ours_seconds
    print(f"checkout ratio: {ours_rate / raw_rate:.2f} (ours {ours_rate:.1f} orders/s / raw {raw_rate:.1f} intents/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
