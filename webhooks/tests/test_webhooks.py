"""Partner webhooks: signed POSTs to a real HTTP server on loopback, after commit, with retries, parking and
redelivery."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as settings_module
from django.db import transaction

from accounts.tests.factories import make_staff_user
from backoffice.pruning import prune_old_rows
from backoffice.timers import process_due_timers
from core.actors import Actor
from core.errors import InvalidInput, TransitionRefused
from orders.models import OrderStatus
from orders.services import order_cancel
from orders.tests.factories import make_order
from payments.services import bank_transfer_record
from webhooks.models import WebhookDelivery, WebhookEvent, WebhookEventStatus, WebhookEventType
from webhooks.services import (
    partner_webhook_configure,
    partner_webhook_secret_rotate,
    webhook_event_create,
    webhook_event_deliver,
    webhook_event_redeliver,
)
from webhooks.tests.support import START, at_risk_event, orderless_event, verify_signature

pytestmark = pytest.mark.django_db

STAFF = Actor.system("test-staff")


# --- what is sent, and when --------------------------------------------------------------------


def test_an_order_change_is_posted_signed_to_the_partner_after_commit(
    hooked, receiver, seller, sku, django_capture_on_commit_callbacks
):
    partner, secret = hooked
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], external_id="TT-1001")

    with django_capture_on_commit_callbacks(execute=True):
        order_cancel(order_id=order.pk, by="buyer", reason="changed my mind", actor=Actor.for_partner(partner))
        events = list(WebhookEvent.objects.filter(order_id=order.pk).order_by("pk"))
        assert [e.type for e in events] == ["order.status_changed", "order.cancelled"]
        assert receiver.requests == [], "nothing may be sent before the transaction commits"

    assert len(receiver.requests) == 2
    for event, request in zip(events, receiver.requests, strict=True):
        assert request.path == "/hooks/backoffice"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-backoffice-event-id"] == str(event.uuid)
        assert request.headers["x-backoffice-event-type"] == event.type
        assert request.headers["x-backoffice-delivery-attempt"] == "1"
        now = int(datetime.now(UTC).timestamp())
        assert verify_signature(secret, request.headers["x-backoffice-signature"], request.body, now=now)
        assert not verify_signature("whsec_wrong", request.headers["x-backoffice-signature"], request.body, now=now)
        assert not verify_signature(secret, request.headers["x-backoffice-signature"], request.body + b" ", now=now)
        envelope = request.json
        assert set(envelope) == {"id", "type", "occurred_at", "order_id", "external_id", "seller", "data"}
        assert (envelope["id"], envelope["type"]) == (str(event.uuid), event.type)
        assert (envelope["order_id"], envelope["external_id"], envelope["seller"]) == (order.pk, "TT-1001", "ACME")

    changed, cancelled = (r.json["data"] for r in receiver.requests)
    assert changed == {
        "from": "pending_payment",
        "to": "cancelled",
        "from_marketplace_status": "UNPAID",
        "marketplace_status": "CANCELLED",
    }
    assert cancelled["cancelled_by"] == "buyer" and cancelled["reason"] == "changed my mind"
    assert cancelled["from"] == "pending_payment" and cancelled["marketplace_status"] == "CANCELLED"
    for event in events:
        event.refresh_from_db()
        assert (event.status, event.attempts, event.next_attempt_at, event.last_error) == (
            WebhookEventStatus.DELIVERED,
            1,
            None,
            "",
        )
        assert event.delivered_at is not None
        (attempt,) = event.deliveries.all()
        assert (attempt.round, attempt.number, attempt.status_code, attempt.error) == (1, 1, 200, "")
        assert attempt.finished_at is not None and attempt.duration_ms is not None


def test_the_readme_snippet_verifies_a_real_delivery(hooked, receiver):
    """Partners copy the README's code: it must accept our requests and refuse tampered ones."""
    readme = (settings_module.BASE_DIR / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?def verify_backoffice_signature.*?)```", readme, re.S).group(1)
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)  # our own documentation
    verify = namespace["verify_backoffice_signature"]
    partner, secret = hooked

    webhook_event_deliver(orderless_event(partner).pk)

    (request,) = receiver.requests
    header = request.headers["x-backoffice-signature"]
    assert verify(secret, header, request.body)
    assert not verify(secret, header, request.body.replace(b"ship_by", b"deliver_by"))
    assert not verify(secret + "x", header, request.body)
    stale = header.replace(header.split(",")[0], f"t={int(header.split(',')[0][2:]) - 3600}")
    assert not verify(secret, stale, request.body)


def test_events_roll_back_with_the_order_change_and_are_never_sent(
    hooked, receiver, seller, sku, django_capture_on_commit_callbacks
):
    partner, _ = hooked
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            order_cancel(order_id=order.pk, by="seller", reason="out of stock", actor=STAFF)
            assert WebhookEvent.objects.filter(order_id=order.pk).count() == 2
            raise RuntimeError("the request failed after the cancel")

    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert not WebhookEvent.objects.exists()
    process_due_timers()
    assert receiver.requests == []


def test_every_status_change_is_one_event_with_marketplace_status(hooked, receiver, seller, sku):
    partner, _ = hooked
    paid_at = datetime.now(UTC)
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], paid_at=paid_at)

    (event,) = WebhookEvent.objects.filter(order_id=order.pk)
    assert event.type == WebhookEventType.ORDER_STATUS_CHANGED
    assert event.data == {
        "from": "pending_payment",
        "to": "on_hold",
        "from_marketplace_status": "UNPAID",
        "marketplace_status": "ON_HOLD",
    }
    # Nothing went out inside the test's transaction; the timer pass picks it up (the prompt task never ran).
    assert receiver.requests == []
    assert process_due_timers()["webhooks_queued"] == 1
    assert [r.json["type"] for r in receiver.requests] == ["order.status_changed"]


def test_shipped_and_delivered_carry_the_carrier_and_tracking(hooked, receiver, seller, sku, clock):
    from fulfillment.models import Carrier
    from fulfillment.services import (
        shipment_hand_over,
        shipment_label,
        shipment_pack,
        shipment_record_carrier_event,
        shipment_start_picking,
    )

    # The migration seeds it, but transactional tests elsewhere may have flushed the seed away.
    Carrier.objects.get_or_create(code="ups", defaults={"name": "UPS", "tracking_pattern": r"^1Z[0-9A-Z]{16}$"})
    partner, secret = hooked
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], paid_at=START, external_id="TT-SHIP")
    bank_transfer_record(order_id=order.pk, reference="wire-1", actor=Actor.for_user(make_staff_user("Finance")))
    clock.move_to(START + timedelta(hours=1))
    process_due_timers()  # the hold ends: ready to fulfil
    shipment_start_picking(order_id=order.pk, actor=STAFF)
    shipment_pack(order_id=order.pk, actor=STAFF)
    shipment_label(
        order_id=order.pk, carrier="ups", tracking_number="1Z999AA10123456784", handover_method="pickup", actor=STAFF
    )
    shipment_hand_over(order_id=order.pk, actor=STAFF)
    clock.move_to(START + timedelta(days=2))
    shipment_record_carrier_event(order_id=order.pk, type="delivered", at=START + timedelta(days=2), actor=STAFF)
    process_due_timers()

    sent = [(r.json["type"], r.json["data"]) for r in receiver.requests]
    moves = [(d["from"], d["to"]) for t, d in sent if t == "order.status_changed"]
    assert moves == [
        ("pending_payment", "on_hold"),
        ("on_hold", "ready_to_fulfill"),
        ("ready_to_fulfill", "in_fulfillment"),
        ("in_fulfillment", "shipped"),
        ("shipped", "in_transit"),
        ("in_transit", "delivered"),
    ]
    shipped = next(d for t, d in sent if t == "order.shipped")
    delivered = next(d for t, d in sent if t == "order.delivered")
    for data in (shipped, delivered):
        assert data["carrier"]["code"] == "ups" and data["carrier"]["name"]
        assert data["tracking_number"] == "1Z999AA10123456784"
    assert (shipped["status"], shipped["marketplace_status"]) == ("shipped", "AWAITING_COLLECTION")
    assert (delivered["status"], delivered["marketplace_status"]) == ("delivered", "DELIVERED")
    assert {r.json["external_id"] for r in receiver.requests} == {"TT-SHIP"}
    assert all(
        verify_signature(secret, r.headers["x-backoffice-signature"], r.body, now=int(START.timestamp()) + 2 * 86400)
        for r in receiver.requests[-3:]
    )
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEventStatus.DELIVERED}


def test_partners_without_a_webhook_url_or_inactive_get_no_events(partner, seller, sku, receiver):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], paid_at=datetime.now(UTC))
    assert not WebhookEvent.objects.exists()

    partner_webhook_configure(partner_id=partner.pk, url=receiver.url, actor=STAFF)
    partner.refresh_from_db()
    partner.is_active = False
    partner.save(update_fields=["is_active"])
    order_cancel(order_id=order.pk, by="buyer", reason="x", actor=STAFF)
    assert not WebhookEvent.objects.exists()


def test_unknown_event_types_are_refused(hooked):
    partner, _ = hooked
    with pytest.raises(InvalidInput) as refused:
        webhook_event_create(partner=partner, type="order.exploded", data={})
    assert refused.value.code == "invalid_event_type"


def test_delivery_refuses_to_run_inside_a_transaction(hooked, receiver, seller, sku):
    """The POST must never happen while a transaction (and its row locks) is open."""
    partner, _ = hooked
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    event = at_risk_event(order)
    with pytest.raises(RuntimeError), transaction.atomic():
        webhook_event_deliver(event.pk)
    assert receiver.requests == []


# --- retries, parking, redelivery ---------------------------------------------------------------


def test_500s_are_retried_at_1m_5m_30m_2h_12h_then_parked(hooked, receiver, clock):
    partner, _ = hooked
    event = orderless_event(partner)
    receiver.answers = [500] * 10

    webhook_event_deliver(event.pk)
    expected_attempts = [START]
    now = START
    for step in (
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=12),
    ):
        event.refresh_from_db()
        assert (event.status, event.next_attempt_at) == (WebhookEventStatus.PENDING, now + step)
        assert event.last_error.startswith("HTTP 500")
        clock.move_to(now + step - timedelta(seconds=1))
        process_due_timers()
        assert len(receiver.requests) == len(expected_attempts), f"nothing is sent before +{step}"
        now += step
        clock.move_to(now)
        assert process_due_timers()["webhooks_queued"] == 1
        expected_attempts.append(now)
        assert len(receiver.requests) == len(expected_attempts)

    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PARKED
    assert (event.attempts, event.next_attempt_at) == (6, None)
    assert event.last_error.startswith("gave up after 6 attempts; last: HTTP 500")
    attempts = list(event.deliveries.order_by("number"))
    assert [a.number for a in attempts] == [1, 2, 3, 4, 5, 6]
    assert [a.started_at for a in attempts] == expected_attempts
    assert {a.status_code for a in attempts} == {500}
    assert [r.headers["x-backoffice-delivery-attempt"] for r in receiver.requests] == ["1", "2", "3", "4", "5", "6"]
    # The same body every time, so the partner can dedupe on its id.
    assert len({r.body for r in receiver.requests}) == 1

    clock.move_to(now + timedelta(days=3))
    assert process_due_timers()["webhooks_queued"] == 0
    assert len(receiver.requests) == 6


def test_a_success_after_failures_delivers_and_stops_retrying(hooked, receiver, clock):
    partner, _ = hooked
    event = orderless_event(partner)
    receiver.answers = [503, 200]

    webhook_event_deliver(event.pk)
    clock.move_to(START + timedelta(minutes=1))
    process_due_timers()

    event.refresh_from_db()
    assert (event.status, event.attempts, event.delivered_at, event.last_error) == (
        WebhookEventStatus.DELIVERED,
        2,
        START + timedelta(minutes=1),
        "",
    )
    clock.move_to(START + timedelta(days=1))
    process_due_timers()
    assert len(receiver.requests) == 2


@pytest.mark.parametrize("problem", ["timeout", "refused"])
def test_a_timeout_or_refused_connection_is_a_failed_attempt(problem, partner, seller, sku, settings, clock):
    settings.WEBHOOK_TIMEOUT = timedelta(seconds=0.3)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    if problem == "timeout":
        silent.listen(8)  # the kernel accepts the connection; nobody ever answers
    else:
        silent.close()  # nothing listens on the port
    try:
        partner_webhook_configure(partner_id=partner.pk, url=f"http://127.0.0.1:{port}/hook", actor=STAFF)
        partner.refresh_from_db()
        event = at_risk_event(make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)]))

        attempt = webhook_event_deliver(event.pk)
    finally:
        silent.close()

    event.refresh_from_db()
    assert attempt.status_code is None
    expected = "timed out after 0.3s" if problem == "timeout" else "connection failed"
    assert attempt.error.startswith(expected)
    if problem == "refused":
        assert "refused" in attempt.error.lower()
    assert (event.status, event.attempts, event.next_attempt_at) == (
        WebhookEventStatus.PENDING,
        1,
        START + timedelta(minutes=1),
    )
    assert event.last_error == attempt.error


def test_redirects_are_not_followed(hooked, receiver, seller, sku):
    partner, _ = hooked
    event = at_risk_event(make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)]))
    receiver.answers = [302]

    attempt = webhook_event_deliver(event.pk)

    assert len(receiver.requests) == 1
    assert attempt.status_code == 302
    assert attempt.error == "HTTP 302: redirect to https://elsewhere.example/steal not followed"
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PENDING and event.attempts == 1


def test_removing_the_url_parks_queued_events_without_sending(hooked, receiver, seller, sku):
    partner, _ = hooked
    event = at_risk_event(make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)]))
    partner_webhook_configure(partner_id=partner.pk, url="", actor=STAFF)

    assert webhook_event_deliver(event.pk) is None

    event.refresh_from_db()
    assert (event.status, event.last_error, event.attempts) == (
        WebhookEventStatus.PARKED,
        "no webhook URL configured",
        0,
    )
    assert receiver.requests == []
    with pytest.raises(TransitionRefused) as refused:
        webhook_event_redeliver(event_id=event.pk, actor=STAFF)
    assert refused.value.code == "webhook_not_configured"


def test_a_parked_event_is_redelivered_with_a_new_round_and_audited(
    hooked, receiver, seller, sku, settings, clock, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_RETRY_BACKOFF = [timedelta(minutes=1)]
    partner, secret = hooked
    event = at_risk_event(make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)]))
    receiver.answers = [500, 500]
    webhook_event_deliver(event.pk)
    clock.move_to(START + timedelta(minutes=1))
    process_due_timers()
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PARKED

    clock.move_to(START + timedelta(hours=5))
    user = make_staff_user("Support", username="sam")
    with django_capture_on_commit_callbacks(execute=True):
        webhook_event_redeliver(event_id=event.pk, actor=Actor.for_user(user))

    event.refresh_from_db()
    assert (event.status, event.round, event.attempts) == (WebhookEventStatus.DELIVERED, 2, 1)
    assert event.delivered_at == START + timedelta(hours=5)
    assert len(receiver.requests) == 3
    assert receiver.requests[2].body == receiver.requests[0].body
    last = receiver.requests[2]
    assert verify_signature(
        secret, last.headers["x-backoffice-signature"], last.body, now=int(START.timestamp()) + 5 * 3600
    )
    rounds = list(event.deliveries.order_by("round", "number").values_list("round", "number", "status_code"))
    assert rounds == [(1, 1, 500), (1, 2, 500), (2, 1, 200)]
    requeue = event.history.get(action="requeue")
    assert (requeue.from_status, requeue.to_status, requeue.user) == ("parked", "pending", user)
    assert requeue.actor == "staff:sam"

    # A delivered event can be sent again too; asking twice before it goes out queues it once.
    with django_capture_on_commit_callbacks(execute=True):
        webhook_event_redeliver(event_id=event.pk, actor=STAFF)
        webhook_event_redeliver(event_id=event.pk, actor=STAFF)
    event.refresh_from_db()
    assert event.round == 3 and event.status == WebhookEventStatus.DELIVERED
    assert len(receiver.requests) == 4


def test_a_worker_that_died_mid_attempt_is_retried_after_its_lease(hooked, receiver, seller, sku, clock, monkeypatch):
    """At least once: the claim is committed, the worker never reports back, the lease ends, the next attempt goes."""
    from webhooks import services as webhooks

    partner, _ = hooked
    event = at_risk_event(make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)]))
    claim = webhooks._claim(event.pk)  # the worker claimed it, then vanished before POSTing
    assert claim is not None and webhook_event_deliver(event.pk) is None  # the lease keeps others off

    clock.move_to(START + webhooks.webhook_lease())
    assert process_due_timers()["webhooks_queued"] == 1

    event.refresh_from_db()
    assert (event.status, event.attempts) == (WebhookEventStatus.DELIVERED, 2)
    first, second = event.deliveries.order_by("number")
    assert first.finished_at is None and "no result recorded" in first.error
    assert second.status_code == 200
    assert len(receiver.requests) == 1
    # The dead worker waking up late does not undo the delivery.
    webhooks._record(claim, webhooks._Outcome(status_code=None, error="late", duration_ms=1))
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.DELIVERED


# --- secrets ---------------------------------------------------------------------------------


def test_rotation_signs_with_both_secrets_during_the_grace_period(hooked, receiver, seller, sku, clock, settings):
    settings.WEBHOOK_SECRET_ROTATION_GRACE = timedelta(hours=24)
    partner, old_secret = hooked
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    _, new_secret = partner_webhook_secret_rotate(partner_id=partner.pk, actor=STAFF)
    assert new_secret != old_secret and new_secret.startswith("whsec_")

    webhook_event_deliver(at_risk_event(order).pk)
    clock.move_to(START + timedelta(hours=24, seconds=1))
    webhook_event_deliver(at_risk_event(order).pk)

    during, after = receiver.requests
    now = int(START.timestamp())
    assert during.headers["x-backoffice-signature"].count("v1=") == 2
    assert verify_signature(new_secret, during.headers["x-backoffice-signature"], during.body, now=now)
    assert verify_signature(old_secret, during.headers["x-backoffice-signature"], during.body, now=now)
    later = now + 24 * 3600 + 1
    assert after.headers["x-backoffice-signature"].count("v1=") == 1
    assert verify_signature(new_secret, after.headers["x-backoffice-signature"], after.body, now=later)
    assert not verify_signature(old_secret, after.headers["x-backoffice-signature"], after.body, now=later)


def test_a_replayed_request_fails_the_timestamp_check(hooked, receiver, seller, sku, clock):
    partner, secret = hooked
    webhook_event_deliver(at_risk_event(make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])).pk)
    (request,) = receiver.requests
    header = request.headers["x-backoffice-signature"]
    assert header.startswith(f"t={int(START.timestamp())},v1=")
    assert verify_signature(secret, header, request.body, now=int(START.timestamp()) + 60)
    assert not verify_signature(secret, header, request.body, now=int(START.timestamp()) + 3600)


def test_configuring_creates_the_secret_once_and_validates_the_url(partner, settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    with pytest.raises(InvalidInput) as refused:
        partner_webhook_configure(partner_id=partner.pk, url="http://partner.example/hook", actor=STAFF)
    assert refused.value.code == "invalid_webhook_url"
    with pytest.raises(InvalidInput):
        partner_webhook_configure(partner_id=partner.pk, url="not a url", actor=STAFF)

    _, secret = partner_webhook_configure(partner_id=partner.pk, url="https://partner.example/hook", actor=STAFF)
    again, second = partner_webhook_configure(partner_id=partner.pk, url="https://partner.example/v2/hook", actor=STAFF)
    assert secret.startswith("whsec_") and second is None
    assert (again.webhook_url, again.webhook_secret) == ("https://partner.example/v2/hook", secret)


# --- retention -------------------------------------------------------------------------------


def test_delivered_events_are_pruned_after_the_retention_parked_ones_stay(hooked, receiver, clock, settings):
    settings.WEBHOOK_RETENTION = timedelta(days=30)
    settings.WEBHOOK_RETRY_BACKOFF = [timedelta(minutes=1)]
    partner, _ = hooked
    delivered, parked = orderless_event(partner), orderless_event(partner)
    receiver.answers = [200, 500, 500]
    webhook_event_deliver(delivered.pk)
    webhook_event_deliver(parked.pk)
    clock.move_to(START + timedelta(minutes=1))
    process_due_timers()

    clock.move_to(START + timedelta(days=30, minutes=-1))
    assert prune_old_rows()["webhook_events"] == 0
    clock.move_to(START + timedelta(days=30, minutes=1))
    assert prune_old_rows()["webhook_events"] == 1
    assert list(WebhookEvent.objects.values_list("pk", "status")) == [(parked.pk, WebhookEventStatus.PARKED)]
    assert not WebhookDelivery.objects.filter(event_id=delivered.pk).exists()
