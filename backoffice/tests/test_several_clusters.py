"""Several django-q2 clusters over the same due rows: each transition, charge and delivery happens once.

The production topology runs M main clusters and K delivery clusters on one
PostgreSQL database and one broker. Here two of each run as real
``manage.py qcluster`` processes against the test database, with the Stripe
emulator and a webhook receiver on loopback, and timer passes are queued
several times over, as overlapping schedule ticks and ``process_timers`` runs
would. Then django-q2's own scheduler is run from three threads at once on a
due schedule, as three clusters' guard loops would: it must fire once.
Skipped on SQLite (row locks).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Failure, Schedule
from django_q.scheduler import scheduler
from django_q.tasks import async_task

from accounts.models import Seller
from backoffice.setup import CHECKOUT_DIGEST_SCHEDULE_NAME, TIMER_SCHEDULE_NAME, ensure_schedules
from core.actors import Actor
from core.testing import process_start, process_stop, run_in_threads
from orders.models import Order, OrderAction, OrderEvent, OrderStatus
from payments.models import Payment, PaymentOrder, PaymentStatus
from payments.selectors import seller_customer
from payments.tests.conftest import add_card, held_order
from webhooks.models import WebhookDelivery, WebhookEvent, WebhookEventStatus
from webhooks.services import partner_webhook_configure
from webhooks.tests.support import Receiver

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 24

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _empty_queues() -> None:
    """Tasks a previous run left on this Redis database would run against this test's rows."""
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        client.delete("django_q:backoffice:q", f"django_q:{settings.WEBHOOK_QUEUE}:q")


def test_two_task_clusters_and_two_delivery_clusters_do_each_effect_once(emulator, shop, tmp_path):
    partner, seller, _ = shop
    add_card(emulator, seller)
    Seller.objects.filter(pk=seller.pk).update(auto_checkout=True)
    receiver = Receiver().start()
    partner_webhook_configure(partner_id=partner.pk, url=receiver.url, actor=Actor.system("test"))
    # Holds that ended an hour ago: all due for the same timer pass.
    ids = [held_order(shop, quantity=1 + n % 3, paid_ago=timedelta(hours=2)).pk for n in range(ORDERS)]
    assert Order.objects.filter(pk__in=ids, status=OrderStatus.ON_HOLD).count() == ORDERS
    _empty_queues()

    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "Q_SYNC", "Q_CLUSTER_NAME")}
    env |= {
        "PYTHONUNBUFFERED": "1",
        "DEBUG": "true",
        "DATABASE_URL": _database_url(),
        "STRIPE_API_HOST": emulator.url,
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "Q_WORKERS": "2",
        "WEBHOOK_WORKERS": "2",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    qcluster = [sys.executable, "manage.py", "qcluster"]
    commands = {
        "tasks1": env,
        "tasks2": env,
        "hooks1": env | {"Q_CLUSTER_NAME": settings.WEBHOOK_QUEUE},
        "hooks2": env | {"Q_CLUSTER_NAME": settings.WEBHOOK_QUEUE},
    }
    # Six passes over the same due rows before any cluster is up, so both clusters' workers take some.
    for _ in range(6):
        async_task("backoffice.tasks.process_due_timers", sync=False)
    processes = {
        name: process_start(qcluster, cwd=ROOT, env=penv, log=tmp_path / f"{name}.log")
        for name, penv in commands.items()
    }
    try:
        events = WebhookEvent.objects.filter(order_id__in=ids)
        deadline = time.monotonic() + 50
        while time.monotonic() < deadline:
            not_ready = Order.objects.filter(pk__in=ids).exclude(status=OrderStatus.READY_TO_FULFILL).exists()
            if not not_ready and not events.exclude(status=WebhookEventStatus.DELIVERED).exists():
                break
            # More passes while the work goes on: their leases and locks must keep them off what is taken.
            async_task("backoffice.tasks.process_due_timers", sync=False)
            time.sleep(0.5)
    finally:
        for proc in processes.values():
            process_stop(proc, grace=15)
        receiver.stop()

    logs = {name: (tmp_path / f"{name}.log").read_text(errors="replace")[-2000:] for name in processes}
    statuses = Counter(Order.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert statuses == {OrderStatus.READY_TO_FULFILL: ORDERS}, logs
    assert list(Failure.objects.values_list("func", "result")) == []
    # Charges: one successful payment per order, and the emulator holds no PaymentIntent beyond our payments.
    charged = PaymentOrder.objects.filter(order_id__in=ids, payment__status=PaymentStatus.SUCCEEDED)
    assert Counter(charged.values_list("order_id", flat=True)) == Counter(ids)
    intents = emulator.payment_intents(seller_customer(seller=seller).id)
    assert len(intents) == Payment.objects.filter(seller=seller).count()
    # Transitions: each order's hold ended once and it was paid once, in its audit trail.
    for action in (OrderAction.END_HOLD, OrderAction.CONFIRM_SELLER_PAYMENT):
        per_order = Counter(
            OrderEvent.objects.filter(order_id__in=ids, action=action).values_list("order_id", flat=True)
        )
        assert per_order == Counter(ids), action
    # Deliveries: every event delivered, each received once by the partner, with one attempt.
    uuids = [str(u) for u in events.values_list("uuid", flat=True)]
    assert len(uuids) == 2 * ORDERS  # on_hold -> awaiting_checkout -> ready_to_fulfill
    assert all(e.status == WebhookEventStatus.DELIVERED for e in events)
    received = Counter(r.headers["x-backoffice-event-id"] for r in receiver.requests)
    assert received == Counter(uuids)
    assert Counter(WebhookDelivery.objects.filter(event__in=events).values_list("event_id", flat=True)) == Counter(
        events.values_list("pk", flat=True)
    )


class _SlowBroker:
    """Stands for Redis: records each task a scheduler queues, slowly, so the schedule's row lock is held a while."""

    list_key = "django_q:backoffice:q"

    def __init__(self):
        self.tasks: list[str] = []
        self.lock = threading.Lock()

    def enqueue(self, task) -> str:
        time.sleep(0.3)
        with self.lock:
            self.tasks.append(task)
        return "1"


def test_django_q2_scheduler_fires_a_due_schedule_once_when_three_clusters_run_it_at_once(monkeypatch):
    ensure_schedules()
    now = timezone.now()
    Schedule.objects.update(next_run=now + timedelta(hours=1))
    Schedule.objects.filter(name=TIMER_SCHEDULE_NAME).update(next_run=now - timedelta(seconds=1))
    assert Schedule.objects.filter(name=CHECKOUT_DIGEST_SCHEDULE_NAME).exists()
    monkeypatch.setattr(Conf, "SYNC", False)  # queue the task (to the broker above); the test settings run inline
    broker = _SlowBroker()

    _, errors = run_in_threads(3, lambda i: scheduler(broker=broker))

    assert errors == []
    assert len(broker.tasks) == 1  # one task for the tick, however many guard loops saw it due
    schedule = Schedule.objects.get(name=TIMER_SCHEDULE_NAME)
    assert schedule.next_run > now
    assert schedule.task  # the one task's id is on the schedule
