"""Refunds through a real Stripe emulator: a cancelled paid order (R7), partial refunds, Stripe being unreachable."""

from datetime import timedelta

import pytest
import requests
import stripe
import time_machine
from django.conf import settings

from accounts.tests.factories import make_staff_user
from backoffice.timers import process_due_timers
from core.actors import Actor
from core.errors import InvalidInput, PermissionRefused, TransitionRefused
from orders.services import order_cancel
from payments.models import PaymentOrder, PaymentStatus, Refund, RefundKind, RefundStatus
from payments.selectors import order_checkout
from payments.services import checkout_orders, payment_refund
from payments.tests.conftest import SYSTEM, add_card, awaiting_order, held_order

pytestmark = pytest.mark.django_db


def _charge(emulator, payment) -> dict:
    return requests.get(
        f"{emulator.url}/v1/charges/{payment.stripe_charge_id}", auth=(settings.STRIPE_SECRET_KEY, ""), timeout=10
    ).json()


def _paid(emulator, shop, *orders):
    _, seller, _ = shop
    add_card(emulator, seller)
    result = checkout_orders(seller=seller, order_ids=[o.pk for o in orders], actor=SYSTEM)
    assert result.payment.status == PaymentStatus.SUCCEEDED
    return result.payment


def test_cancelling_a_paid_order_refunds_its_share_through_stripe(emulator, shop, django_capture_on_commit_callbacks):
    first, second = awaiting_order(shop, quantity=2), awaiting_order(shop, quantity=1)
    payment = _paid(emulator, shop, first, second)

    with django_capture_on_commit_callbacks(execute=True):
        order_cancel(order_id=first.pk, by="seller", reason="damaged in the warehouse", actor=SYSTEM)

    refund = Refund.objects.get()
    assert (refund.kind, refund.amount, refund.status) == (RefundKind.ORDER_CANCELLED, 2500, RefundStatus.SUCCEEDED)
    assert refund.stripe_refund_id.startswith("re_")
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.PARTIALLY_REFUNDED, 2500)
    assert _charge(emulator, payment)["amount_refunded"] == 2500
    first.refresh_from_db()
    second.refresh_from_db()
    assert order_checkout(first).status == "refunded"
    assert order_checkout(second).status == "paid"

    # Seeing the cancellation again gives nothing more back.
    with django_capture_on_commit_callbacks(execute=True):
        order_cancel(order_id=first.pk, by="seller", reason="again", actor=SYSTEM)
        order_cancel(order_id=second.pk, by="staff", reason="out of stock", actor=SYSTEM)

    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.REFUNDED, 3750)
    assert Refund.objects.count() == 2
    charge = _charge(emulator, payment)
    assert (charge["amount_refunded"], charge["refunded"]) == (3750, True)


def test_an_order_paid_during_its_hold_and_cancelled_by_the_buyer_is_refunded(
    emulator, shop, django_capture_on_commit_callbacks
):
    order = held_order(shop, quantity=2)
    payment = _paid(emulator, shop, order)

    with django_capture_on_commit_callbacks(execute=True):
        order_cancel(order_id=order.pk, by="buyer", reason="changed my mind", actor=SYSTEM)

    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.REFUNDED, 2500)
    assert PaymentOrder.objects.get(order=order).amount_refunded == 2500


def test_partial_refunds_by_finance(emulator, shop, django_capture_on_commit_callbacks):
    order = awaiting_order(shop, quantity=2)
    payment = _paid(emulator, shop, order)
    support = make_staff_user("Support")
    finance = Actor.for_user(make_staff_user("Finance"))

    with pytest.raises(PermissionRefused):
        payment_refund(payment_id=payment.pk, amount=500, actor=Actor.for_user(support), reason="goodwill")
    with django_capture_on_commit_callbacks(execute=True):
        first = payment_refund(
            payment_id=payment.pk, amount=1000, actor=finance, reason="one item damaged", order_id=order.pk
        )
    first.refresh_from_db()
    assert first.status == RefundStatus.SUCCEEDED
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.PARTIALLY_REFUNDED, 1000)
    assert order_checkout(order).status == "paid"

    with pytest.raises(InvalidInput) as exc:
        payment_refund(payment_id=payment.pk, amount=1501, actor=finance, reason="too much")
    assert exc.value.code == "exceeds_refundable"
    with pytest.raises(InvalidInput):
        payment_refund(payment_id=payment.pk, amount=0, actor=finance, reason="nothing")

    with django_capture_on_commit_callbacks(execute=True):
        payment_refund(payment_id=payment.pk, amount=1500, actor=finance, reason="the rest")
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.REFUNDED, 2500)
    assert _charge(emulator, payment)["refunded"] is True
    with pytest.raises(TransitionRefused):
        payment_refund(payment_id=payment.pk, amount=1, actor=finance, reason="more")


def test_a_refund_that_cannot_reach_stripe_is_sent_again_by_the_timer(
    emulator, shop, django_capture_on_commit_callbacks
):
    order = awaiting_order(shop)
    payment = _paid(emulator, shop, order)
    retries = stripe.max_network_retries
    stripe.api_base, stripe.max_network_retries = "http://127.0.0.1:9", 0  # nothing listens there
    try:
        with django_capture_on_commit_callbacks(execute=True):
            order_cancel(order_id=order.pk, by="seller", reason="damaged", actor=SYSTEM)
    finally:
        stripe.api_base, stripe.max_network_retries = emulator.url, retries

    refund = Refund.objects.get()
    assert refund.status == RefundStatus.PENDING
    assert "APIConnectionError" in refund.last_error
    assert refund.attempts == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED

    with (
        time_machine.travel(refund.next_attempt_at - timedelta(seconds=5)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert process_due_timers()["refunds_sent"] == 0
    with (
        time_machine.travel(refund.next_attempt_at + timedelta(seconds=1)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert process_due_timers()["refunds_sent"] == 1

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert (refund.status, refund.attempts) == (RefundStatus.SUCCEEDED, 2)
    assert payment.status == PaymentStatus.REFUNDED
    assert _charge(emulator, payment)["amount_refunded"] == 2500
