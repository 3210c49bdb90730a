"""Webhook delivery on PostgreSQL with real threads: one POST per attempt, and no lock held while POSTing."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from accounts.tests.factories import PartnerFactory, SellerFactory
from backoffice.timers import process_due_timers
from core.actors import Actor
from core.testing import run_in_threads
from fulfillment.tests.factories import make_sku
from orders.models import Order, OrderStatus
from orders.services import order_cancel
from orders.tests.factories import make_order
from webhooks.models import WebhookDelivery, WebhookEvent, WebhookEventStatus, WebhookEventType
from webhooks.services import partner_webhook_configure, webhook_event_create, webhook_event_deliver
from webhooks.tests.support import Receiver, verify_signature

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

STAFF = Actor.system("test-staff")


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def hooked(receiver):
    seller = SellerFactory(code="HOOK")
    partner = PartnerFactory(name="Hooked", sellers=[seller])
    partner, secret = partner_webhook_configure(partner_id=partner.pk, url=receiver.url, actor=STAFF)
    return partner, seller, secret


def _event(partner) -> WebhookEvent:
    # Written in autocommit, so its prompt delivery runs at once; ``Receiver.answers`` decides how that goes.
    return webhook_event_create(partner=partner, type=WebhookEventType.ORDER_AT_RISK, data={"clock": "ship_by"})


def test_eight_workers_on_one_due_event_make_one_post(hooked, receiver, monkeypatch):
    partner, _, _ = hooked
    # Keep the prompt task from delivering it first: the workers below must race for the first attempt.
    monkeypatch.setattr("webhooks.services._enqueue_delivery", lambda event_id: None)
    event = _event(partner)
    workers = 8
    gave_up = threading.Semaphore(0)

    def hold_until_the_others_tried(_request):
        # The POSTing worker is in flight until every other worker has tried and been turned away.
        for _ in range(workers - 1):
            assert gave_up.acquire(timeout=20)

    receiver.on_request = hold_until_the_others_tried

    def worker(i):
        delivery = webhook_event_deliver(event.pk)
        if delivery is None:
            gave_up.release()
        return delivery

    results, errors = run_in_threads(workers, worker)

    assert errors == []
    assert len([r for r in results if r is not None]) == 1
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.filter(event=event).count() == 1
    event.refresh_from_db()
    assert (event.status, event.attempts) == (WebhookEventStatus.DELIVERED, 1)


def test_while_an_attempt_is_in_flight_other_workers_leave_the_event_alone(hooked, receiver, monkeypatch):
    """The claim is committed before the POST; its lease, not a held lock, keeps the others off."""
    partner, _, _ = hooked
    monkeypatch.setattr("webhooks.services._enqueue_delivery", lambda event_id: None)
    event = _event(partner)
    meanwhile = []

    def others_try(_request):
        if len(receiver.requests) == 1:
            meanwhile.append(
                run_in_threads(
                    4,
                    lambda i: webhook_event_deliver(event.pk) if i % 2 else process_due_timers()["webhooks_queued"],
                )
            )

    receiver.on_request = others_try

    webhook_event_deliver(event.pk)

    assert meanwhile == [([0, None, 0, None], [])]
    assert len(receiver.requests) == 1
    event.refresh_from_db()
    assert (event.status, event.attempts) == (WebhookEventStatus.DELIVERED, 1)


def test_parallel_timer_passes_send_each_due_event_once(hooked, receiver, monkeypatch):
    partner, _, _ = hooked
    monkeypatch.setattr("webhooks.services._enqueue_delivery", lambda event_id: None)
    events = [_event(partner) for _ in range(30)]

    results, errors = run_in_threads(4, lambda i: process_due_timers())

    assert errors == []
    assert sum(r["webhooks_queued"] for r in results) == 30
    assert sorted(r.headers["x-backoffice-event-id"] for r in receiver.requests) == sorted(str(e.uuid) for e in events)
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEventStatus.DELIVERED}
    assert WebhookDelivery.objects.count() == 30


def test_the_partner_is_called_after_the_order_change_commits_and_with_no_lock_held(hooked, receiver):
    """The POST happens after commit: the partner's callback can already read the change and lock every row."""
    partner, seller, secret = hooked
    make_sku(seller=seller, code="HOOK-1", on_hand=5)
    order = make_order(partner=partner, seller=seller, lines=[("HOOK-1", 1)])
    seen = []

    def look_from_another_connection(request):
        try:
            with transaction.atomic():
                locked = Order.objects.select_for_update(nowait=True).get(pk=order.pk)
                event = WebhookEvent.objects.select_for_update(nowait=True).get(
                    uuid=request.headers["x-backoffice-event-id"]
                )
                seen.append((request.json["type"], locked.status, event.status))
        finally:
            connection.close()

    receiver.on_request = look_from_another_connection

    order_cancel(order_id=order.pk, by="seller", reason="damaged", actor=STAFF)

    assert seen == [
        ("order.status_changed", OrderStatus.CANCELLED, WebhookEventStatus.PENDING),
        ("order.cancelled", OrderStatus.CANCELLED, WebhookEventStatus.PENDING),
    ]
    now = int(datetime.now(UTC).timestamp())
    assert all(
        verify_signature(secret, r.headers["x-backoffice-signature"], r.body, now=now) for r in receiver.requests
    )
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEventStatus.DELIVERED}
