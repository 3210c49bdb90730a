"""No charge while the buyer waits for an answer to a cancellation request (R5), on every checkout path.

Auto Checkout waits, and charges once the request is rejected or withdrawn;
an approved request cancels the order, which is then never charged. Manual
checkout skips such an order unless the seller confirms paying it anyway.
Against the real Stripe emulator.
"""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.tests.factories import SellerUserFactory
from backoffice.timers import process_due_timers
from core.actors import Actor
from core.testing import run_in_threads
from orders.models import OrderStatus
from payments.models import AutoCheckout, Payment, PaymentStatus
from payments.services import auto_checkout_charge, auto_checkout_set, checkout_orders
from payments.tests.conftest import SYSTEM, add_card, awaiting_order
from returns.models import CancellationRequest, CancellationStatus
from returns.services.cancellations import (
    cancellation_request_approve,
    cancellation_request_create,
    cancellation_request_reject,
    cancellation_request_withdraw,
)


@pytest.fixture
def carded_shop(shop, emulator):
    """The shop's seller with a good default card, Auto Checkout still off."""
    _, seller, _ = shop
    add_card(emulator, seller)
    return shop


@pytest.fixture
def seller_actor(shop):
    _, seller, _ = shop
    return Actor.for_user(SellerUserFactory(username="shop-clerk", seller=seller))


def _ask_to_cancel(shop, order):
    partner, _, _ = shop
    request, _ = cancellation_request_create(
        order_id=order.pk, actor=Actor.for_partner(partner), reason="Ordered the wrong size"
    )
    return request


def _auto_checkout_on_with_a_pending_request(shop, captured):
    """An order awaiting checkout whose buyer asks to cancel, then the seller turns Auto Checkout on."""
    _, seller, _ = shop
    order = awaiting_order(shop)
    request = _ask_to_cancel(shop, order)
    with captured(execute=True):
        auto_checkout_set(seller=seller, enabled=True, actor=SYSTEM)
    return order, request


@pytest.mark.django_db
def test_auto_checkout_does_not_charge_while_a_request_waits_and_charges_after_rejection(
    carded_shop, seller_actor, django_capture_on_commit_callbacks
):
    order, request = _auto_checkout_on_with_a_pending_request(carded_shop, django_capture_on_commit_callbacks)

    assert not Payment.objects.exists()
    auto = AutoCheckout.objects.get(order=order)
    assert auto.next_attempt_at is None and auto.gave_up_at is None
    assert "cancellation request" in auto.failure_message
    # Minutes later the timer pass finds nothing to charge either.
    with time_machine.travel(timezone.now() + timedelta(minutes=4)), django_capture_on_commit_callbacks(execute=True):
        process_due_timers()
    assert not Payment.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        cancellation_request_reject(request_id=request.pk, actor=seller_actor, reason="Already packed for you")

    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.SUCCEEDED
    order.refresh_from_db()
    assert order.status == OrderStatus.READY_TO_FULFILL


@pytest.mark.django_db
def test_auto_checkout_charges_after_the_buyer_withdraws_the_request(carded_shop, django_capture_on_commit_callbacks):
    partner, _, _ = carded_shop
    order, request = _auto_checkout_on_with_a_pending_request(carded_shop, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        cancellation_request_withdraw(request_id=request.pk, actor=Actor.for_partner(partner))

    assert Payment.objects.get().status == PaymentStatus.SUCCEEDED
    order.refresh_from_db()
    assert order.status == OrderStatus.READY_TO_FULFILL


@pytest.mark.django_db
def test_an_approved_request_cancels_the_order_which_is_never_charged(
    carded_shop, seller_actor, django_capture_on_commit_callbacks
):
    order, request = _auto_checkout_on_with_a_pending_request(carded_shop, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        cancellation_request_approve(request_id=request.pk, actor=seller_actor)
    with time_machine.travel(timezone.now() + timedelta(days=2)), django_capture_on_commit_callbacks(execute=True):
        process_due_timers()

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_manual_checkout_skips_an_order_with_a_pending_request_unless_the_seller_confirms(carded_shop):
    _, seller, _ = carded_shop
    order = awaiting_order(carded_shop)
    _ask_to_cancel(carded_shop, order)

    refused = checkout_orders(seller=seller, order_ids=[order.pk], actor=SYSTEM)
    assert refused.payment is None
    [result] = refused.orders
    assert (result.outcome, result.code) == ("skipped", "cancellation_pending")
    assert "asked to cancel" in result.message

    paid = checkout_orders(seller=seller, order_ids=[order.pk], actor=SYSTEM, pay_despite_cancellation=True)
    assert paid.payment.status == PaymentStatus.SUCCEEDED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_request_arriving_while_auto_checkout_claims_the_charge_never_leaves_a_charge_after_it(carded_shop):
    """The request and the charge both take the order's lock first, so whichever comes second sees the other."""
    partner, seller, _ = carded_shop
    from accounts.models import Seller

    for _ in range(4):
        order = awaiting_order(carded_shop)
        # Auto Checkout switched on behind the services' back: the charge is enqueued, not yet run.
        Seller.objects.filter(pk=seller.pk).update(auto_checkout=True)
        AutoCheckout.objects.create(order=order, seller=seller, next_attempt_at=timezone.now())

        def act(i, order=order):
            if i == 0:
                return auto_checkout_charge(order_id=order.pk, actor=SYSTEM)
            return cancellation_request_create(order_id=order.pk, actor=Actor.for_partner(partner), reason="changed")

        results, errors = run_in_threads(2, act)
        assert errors == []
        request = CancellationRequest.objects.get(order=order)
        payments = Payment.objects.filter(allocations__order=order)
        if results[0] == "cancellation_pending":
            assert not payments.exists()
        else:
            # The charge was claimed first: its payment row is older than the request, never younger.
            [payment] = payments
            assert payment.created_at <= request.requested_at
        assert not payments.filter(created_at__gt=request.requested_at).exists()
        assert request.status == CancellationStatus.PENDING
        Seller.objects.filter(pk=seller.pk).update(auto_checkout=False)
