"""The embedded default under load: web server and task clusters write the same SQLite file for a minute.

With SQLite's default deferred transactions, a transaction that read and then
wrote failed at once with "database is locked" whenever another process had
written in between, whatever the busy timeout: Auto Checkout charges and
emails were lost that way under ``make run``. The real processes run here, as
``make run`` starts them, against the test database file.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.db import connection
from django.utils import timezone
from django_q.models import Failure, OrmQ
from django_q.tasks import async_task

from accounts.tests.factories import PartnerFactory, SellerFactory, make_api_key
from core.actors import Actor
from core.testing import process_start, process_stop
from fulfillment.tests.factories import make_sku
from orders.models import Order, OrderStatus
from webhooks.models import WebhookEvent, WebhookEventStatus
from webhooks.services import partner_webhook_configure
from webhooks.tests.support import Receiver

ROOT = Path(__file__).resolve().parents[2]
SECONDS = int(os.environ.get("SQLITE_LOAD_SECONDS", "60"))

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db(transaction=True)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the web server did not answer on port {port}")


def test_web_server_and_task_clusters_write_at_once_for_a_minute_without_lock_errors(tmp_path):
    seller = SellerFactory(code="ACME")
    partner = PartnerFactory(name="Load connector", sellers=[seller])
    key = make_api_key(partner)
    for code in ("TSHIRT-M", "MUG"):
        make_sku(seller=seller, code=code, on_hand=1_000_000)
    receiver = Receiver().start()
    partner_webhook_configure(partner_id=partner.pk, url=receiver.url, actor=Actor.system("test"))

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "Q_SYNC", "Q_CLUSTER_NAME")}
    env |= {
        "PYTHONUNBUFFERED": "1",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "API_THROTTLE_RATE_KEY": "1000000/minute",
        "API_THROTTLE_RATE_ADDRESS": "1000000/minute",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    manage = [sys.executable, "manage.py"]
    commands = {
        "web": ([*manage, "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"], env),
        "tasks": ([*manage, "qcluster"], env),
        "hooks": ([*manage, "qcluster"], env | {"Q_CLUSTER_NAME": "webhooks"}),
    }
    processes = {
        name: process_start(argv, cwd=ROOT, env=penv, log=tmp_path / f"{name}.log")
        for name, (argv, penv) in commands.items()
    }
    statuses: list[int] = []
    stop = threading.Event()
    try:
        _wait_for_port(port)
        base = f"http://127.0.0.1:{port}/api/v1"
        session_headers = {"Authorization": f"Api-Key {key}"}

        def push(n: int) -> None:
            """Orders placed 25 h ago (due to cancel unpaid) or paid 2 h ago (hold over): work for the timers."""
            with requests.Session() as http:
                http.headers.update(session_headers)
                i = 0
                while not stop.is_set():
                    i += 1
                    now = timezone.now()
                    body = {
                        "external_id": f"LOAD-{n}-{i}",
                        "seller": "ACME",
                        "placed_at": (now - timedelta(hours=25)).isoformat(),
                        "buyer_payment": "paid" if i % 2 else "pending",
                        "paid_at": (now - timedelta(hours=2)).isoformat() if i % 2 else None,
                        "buyer": {"name": "Load Test"},
                        "shipping_address": {"line1": "1 Main St", "city": "Austin", "country": "US"},
                        "lines": [{"sku": "TSHIRT-M", "quantity": 1, "unit_price": "9.99"}],
                    }
                    created = http.post(f"{base}/orders/", json=body, timeout=60)
                    statuses.append(created.status_code)
                    if created.status_code == 201 and i % 3 == 0:
                        order_id = created.json()["id"]
                        cancel = http.post(f"{base}/orders/{order_id}/cancel/", json={"by": "seller"}, timeout=60)
                        statuses.append(cancel.status_code)
                    statuses.append(http.get(f"{base}/orders/", timeout=60).status_code)

        def timer_passes() -> None:
            """The timer pass, queued every second for the task cluster (its schedule fires once a minute)."""
            while not stop.wait(1):
                async_task("backoffice.tasks.process_due_timers", sync=False)

        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(push, n) for n in range(3)] + [pool.submit(timer_passes)]
            stop.wait(SECONDS)
            stop.set()
            for future in futures:
                future.result()
        # Let the clusters finish what is queued, so their errors (if any) are in the logs.
        deadline = time.monotonic() + 60
        while OrmQ.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop.set()
        for proc in processes.values():
            process_stop(proc)
        receiver.stop()

    logs = {name: (tmp_path / f"{name}.log").read_text(errors="replace") for name in processes}
    locked = {name: log.count("database is locked") for name, log in logs.items()}
    assert locked == {"web": 0, "tasks": 0, "hooks": 0}, {n: log[-3000:] for n, log in logs.items() if locked[n]}
    assert [s for s in statuses if s >= 500] == []
    assert list(Failure.objects.values_list("func", "result")) == []
    # Both sides really wrote: orders came in, timers moved them, webhooks went out.
    assert len(statuses) > 100
    assert Order.objects.filter(status=OrderStatus.CANCELLED, cancelled_by="system").exists()
    assert Order.objects.filter(status=OrderStatus.AWAITING_CHECKOUT).exists()
    assert WebhookEvent.objects.filter(status=WebhookEventStatus.DELIVERED).count() > 10
    assert len(receiver.requests) > 10
