"""Stripe's webhooks through dj-stripe's endpoint: signed events reconcile payments once; replays change nothing."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
import stripe
import time_machine
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from djstripe.models import Event, WebhookEndpoint

from backoffice.timers import process_due_timers
from orders.models import OrderEvent, OrderStatus
from payments import stripe_client
from payments.locks import lock_orders
from payments.models import Payment, PaymentEvent, PaymentStatus, PaymentTrigger, Refund, RefundKind
from payments.selectors import order_costs, seller_customer
from payments.services import checkout_orders
from payments.services.outcomes import create_processing_payment as _create_processing_payment
from payments.services.outcomes import send as _send
from payments.stripe_setup import ENDPOINT_ID
from payments.tests.conftest import SYSTEM, add_card, awaiting_order

pytestmark = pytest.mark.django_db


def post_event(client, event: dict, *, secret: str | None = None):
    """POST ``event`` to our webhook URL, signed the way Stripe signs (``t=<time>,v1=<HMAC-SHA256>``)."""
    endpoint = WebhookEndpoint.objects.get(id=ENDPOINT_ID)
    payload = json.dumps(event)
    timestamp = int(timezone.now().timestamp())
    signature = hmac.new(
        (secret or endpoint.secret).encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return client.post(
        f"/stripe/webhook/{endpoint.djstripe_uuid}/",
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=f"t={timestamp},v1={signature}",
    )


def _charged_but_not_recorded(shop):
    """A charge Stripe made whose answer we never recorded (the worker died right after the call)."""
    _, seller, _ = shop
    order = awaiting_order(shop)
    customer = seller_customer(seller=seller)
    with transaction.atomic():
        orders = lock_orders([order.pk])
        payment = _create_processing_payment(
            seller=seller,
            orders=orders,
            amounts={order.pk: order_costs(orders)[order.pk].amount},
            trigger=PaymentTrigger.MANUAL,
            customer_id=customer.id,
            payment_method_id=customer.default_payment_method_id,
            actor=SYSTEM,
        )
    outcome = _send(payment)
    assert outcome.kind == "succeeded"
    return order, payment, outcome.intent_id


def test_a_signed_event_is_processed_once_and_a_replay_changes_nothing(
    emulator, shop, client, django_capture_on_commit_callbacks
):
    add_card(emulator, shop[1])
    order, payment, intent_id = _charged_but_not_recorded(shop)
    [event] = [e for e in emulator.events("payment_intent.succeeded") if e["data"]["object"]["id"] == intent_id]

    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(client, event)

    assert response.status_code == 200, response.content
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (payment.status, payment.stripe_payment_intent_id) == (PaymentStatus.SUCCEEDED, intent_id)
    assert order.status == OrderStatus.READY_TO_FULFILL
    assert Event.objects.filter(id=event["id"]).count() == 1
    before = (PaymentEvent.objects.count(), OrderEvent.objects.count(), order.updated_at, payment.updated_at)

    with django_capture_on_commit_callbacks(execute=True):
        replay = post_event(client, event)

    assert replay.status_code == 200
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (PaymentEvent.objects.count(), OrderEvent.objects.count(), order.updated_at, payment.updated_at) == before
    assert Event.objects.filter(id=event["id"]).count() == 1


def test_an_event_with_a_bad_signature_is_refused(emulator, shop, client):
    add_card(emulator, shop[1])
    order, payment, intent_id = _charged_but_not_recorded(shop)
    [event] = [e for e in emulator.events("payment_intent.succeeded") if e["data"]["object"]["id"] == intent_id]

    response = post_event(client, event, secret="whsec_not_the_right_one")

    assert response.status_code == 400
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PROCESSING
    assert not Event.objects.filter(id=event["id"]).exists()
    assert (
        client.post(
            f"/stripe/webhook/{WebhookEndpoint.objects.get().djstripe_uuid}/",
            data="{}",
            content_type="application/json",
        ).status_code
        == 400
    )


def test_a_payment_nobody_settled_is_settled_by_the_timer(emulator, shop, django_capture_on_commit_callbacks):
    """The worker died after committing ``processing`` and before calling Stripe: the timer sends it, once."""
    _, seller, _ = shop
    add_card(emulator, seller)
    order = awaiting_order(shop)
    customer = seller_customer(seller=seller)
    with transaction.atomic():
        orders = lock_orders([order.pk])
        payment = _create_processing_payment(
            seller=seller,
            orders=orders,
            amounts={order.pk: 2500},
            trigger=PaymentTrigger.MANUAL,
            customer_id=customer.id,
            payment_method_id=customer.default_payment_method_id,
            actor=SYSTEM,
        )
    # Meanwhile nobody can charge the order a second time.
    again = checkout_orders(seller=seller, order_ids=[order.pk], actor=SYSTEM)
    assert [(r.outcome, r.code) for r in again.orders] == [("skipped", "in_progress")]

    with (
        time_machine.travel(payment.reconcile_at + timedelta(seconds=1)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert process_due_timers()["payments_settled"] == 1

    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert order.status == OrderStatus.READY_TO_FULFILL
    assert len(emulator.payment_intents(customer.id)) == 1


def test_a_refund_made_at_stripe_is_recorded_from_charge_refunded(
    emulator, shop, client, django_capture_on_commit_callbacks
):
    _, seller, _ = shop
    add_card(emulator, seller)
    order = awaiting_order(shop)
    payment = checkout_orders(seller=seller, order_ids=[order.pk], actor=SYSTEM).payment
    # Someone refunds 10.00 in Stripe's dashboard.
    stripe.Refund.create(
        payment_intent=payment.stripe_payment_intent_id, amount=1000, api_key=settings.STRIPE_SECRET_KEY
    )
    charge = stripe_client.as_dict(stripe.Charge.retrieve(payment.stripe_charge_id, api_key=settings.STRIPE_SECRET_KEY))
    event = {
        "id": "evt_dashboard_refund",
        "object": "event",
        "type": "charge.refunded",
        "api_version": "2017-08-15",
        "created": int(timezone.now().timestamp()),
        "livemode": False,
        "data": {"object": charge},
    }

    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(client, event).status_code == 200
        assert post_event(client, event).status_code == 200  # Stripe delivers it twice

    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.PARTIALLY_REFUNDED, 1000)
    refund = Refund.objects.get()
    assert (refund.kind, refund.amount, refund.stripe_refund_id) == (
        RefundKind.EXTERNAL,
        1000,
        charge["refunds"]["data"][0]["id"],
    )
    assert Payment.objects.get().refunds.count() == 1
