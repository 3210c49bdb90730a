"""Auto Checkout against a real Stripe emulator, with the clock moved instead of waited for."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.utils import timezone
from djstripe.models import Customer

from backoffice.timers import process_due_timers
from orders.models import OrderStatus
from orders.tests.factories import make_order
from payments import stripe_client
from payments.models import AutoCheckout, Payment, PaymentOrder, PaymentStatus, PaymentTrigger
from payments.selectors import auto_checkout_failures, order_checkout
from payments.services import auto_checkout_set, checkout_orders
from payments.tests.conftest import SYSTEM, add_card, awaiting_order, held_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def auto_shop(shop, emulator):
    """The shop's seller with a good default card and Auto Checkout on."""
    _, seller, _ = shop
    add_card(emulator, seller)
    auto_checkout_set(seller=seller, enabled=True, actor=SYSTEM)
    seller.refresh_from_db()
    return shop


def _customer_id(seller) -> str:
    return Customer.objects.get(subscriber=seller).id


def test_at_the_end_of_the_hold_the_order_is_charged_and_lands_in_the_warehouse_queue(
    auto_shop, emulator, django_capture_on_commit_callbacks
):
    _, seller, _ = auto_shop
    order = held_order(auto_shop, quantity=3, paid_ago=timedelta(0))

    with time_machine.travel(order.hold_until - timedelta(minutes=1)), django_capture_on_commit_callbacks(execute=True):
        process_due_timers()
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD  # never charged during the hold (R4)
    assert emulator.payment_intents(_customer_id(seller)) == []

    with (
        time_machine.travel(order.hold_until + timedelta(seconds=30)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        counts = process_due_timers()

    assert counts["holds_ended"] == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.READY_TO_FULFILL
    payment = Payment.objects.get()
    assert (payment.trigger, payment.status, payment.amount) == (
        PaymentTrigger.AUTO_CHECKOUT,
        PaymentStatus.SUCCEEDED,
        3750,
    )
    assert order.seller_payment_reference == payment.stripe_payment_intent_id
    [intent] = emulator.payment_intents(_customer_id(seller))
    assert (intent["id"], intent["status"], intent["amount"]) == (payment.stripe_payment_intent_id, "succeeded", 3750)
    assert order.auto_checkout.next_attempt_at is None and order.auto_checkout.attempts == 1


def test_a_decline_is_retried_at_the_right_time_and_goes_through_on_the_new_default_card(
    shop, emulator, django_capture_on_commit_callbacks
):
    _, seller, _ = shop
    add_card(emulator, seller, "declines_charges")
    auto_checkout_set(seller=seller, enabled=True, actor=SYSTEM)
    with django_capture_on_commit_callbacks(execute=True):
        order = awaiting_order(shop)
        declined_at = timezone.now()

    auto = AutoCheckout.objects.get(order=order)
    assert auto.attempts == 1
    assert auto.failure_message == "Your bank declined the charge. Try another card, or ask your bank why."
    assert abs(auto.next_attempt_at - (declined_at + timedelta(hours=1))) < timedelta(seconds=30)
    assert Payment.objects.get().status == PaymentStatus.FAILED
    assert order_checkout(order).status == "unpaid"

    # The seller makes a good card the default at Stripe; dj-stripe syncs the customer (customer.updated).
    good = add_card(emulator, seller, "ok")
    customer = Customer.objects.get(subscriber=seller)
    Customer.sync_from_stripe_data(stripe_client.customer_set_default_payment_method(customer.id, good.id))

    with (
        time_machine.travel(auto.next_attempt_at - timedelta(minutes=1)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert process_due_timers()["auto_checkout_charges"] == 0
    with (
        time_machine.travel(auto.next_attempt_at + timedelta(seconds=1)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert process_due_timers()["auto_checkout_charges"] == 1

    order.refresh_from_db()
    assert order.status == OrderStatus.READY_TO_FULFILL
    statuses = sorted(pi["status"] for pi in emulator.payment_intents(customer.id))
    assert statuses == ["requires_payment_method", "succeeded"]
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED, stripe_payment_method_id=good.id).count() == 1


def test_after_the_last_retry_the_order_waits_and_the_seller_is_told_why(
    shop, emulator, django_capture_on_commit_callbacks
):
    _, seller, _ = shop
    add_card(emulator, seller, "declines_charges")
    auto_checkout_set(seller=seller, enabled=True, actor=SYSTEM)
    with django_capture_on_commit_callbacks(execute=True):
        order = awaiting_order(shop)
    auto = AutoCheckout.objects.get(order=order)

    gaps = []
    for _ in settings.AUTO_CHECKOUT_RETRY_BACKOFF:
        previous = auto.next_attempt_at
        with time_machine.travel(previous + timedelta(seconds=1)), django_capture_on_commit_callbacks(execute=True):
            process_due_timers()
        auto.refresh_from_db()
        if auto.next_attempt_at:
            gaps.append(round((auto.next_attempt_at - previous) / timedelta(hours=1)))

    assert gaps == [6, 24]  # +1h came first, then +6h, +24h; the fourth decline is the last
    assert (auto.attempts, auto.next_attempt_at) == (4, None)
    assert auto.gave_up_at is not None
    assert Payment.objects.filter(status=PaymentStatus.FAILED).count() == 4
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_CHECKOUT
    assert [f.order for f in auto_checkout_failures(seller=seller)] == [order]
    [email] = mail.outbox
    assert email.to == [seller.email]
    assert order.external_id in email.body and "Your bank declined the charge" in email.body
    assert "/portal/" in email.body
    assert email.alternatives and "text/html" == email.alternatives[0][1]

    # Nothing more is tried, however late the timer runs.
    with time_machine.travel(timezone.now() + timedelta(days=5)), django_capture_on_commit_callbacks(execute=True):
        process_due_timers()
    assert Payment.objects.count() == 4


def test_when_the_bank_wants_the_seller_present_auto_checkout_stops_and_the_seller_pays_by_hand(
    shop, emulator, django_capture_on_commit_callbacks
):
    _, seller, _ = shop
    add_card(emulator, seller, "needs_authentication")
    good = add_card(emulator, seller, "ok")
    auto_checkout_set(seller=seller, enabled=True, actor=SYSTEM)
    with django_capture_on_commit_callbacks(execute=True):
        order = awaiting_order(shop)

    payment = Payment.objects.get()
    assert (payment.status, payment.client_secret) == (PaymentStatus.REQUIRES_ACTION, "")
    auto = AutoCheckout.objects.get(order=order)
    assert auto.gave_up_at is not None and auto.next_attempt_at is None
    assert "confirm this payment" in auto.failure_message
    assert len(mail.outbox) == 1
    # Nobody is there to confirm it: the PaymentIntent is cancelled and the order freed.
    [intent] = emulator.payment_intents(payment.stripe_customer_id)
    assert intent["status"] == "canceled"
    assert not PaymentOrder.objects.filter(order=order, active=True).exists()

    result = checkout_orders(seller=seller, order_ids=[order.pk], actor=SYSTEM, payment_method_id=good.id)
    assert [r.outcome for r in result.orders] == ["paid"]
    assert list(auto_checkout_failures(seller=seller)) == []


def test_a_lost_task_is_made_up_for_by_the_timer(auto_shop, emulator, django_capture_on_commit_callbacks):
    _, seller, _ = auto_shop
    order = awaiting_order(auto_shop)  # the enqueue-on-commit is dropped: the task never runs
    auto = AutoCheckout.objects.get(order=order)
    assert auto.attempts == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert process_due_timers()["auto_checkout_charges"] == 0  # its lease has not run out

    with (
        time_machine.travel(auto.next_attempt_at + timedelta(seconds=1)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert process_due_timers()["auto_checkout_charges"] == 1

    order.refresh_from_db()
    assert order.status == OrderStatus.READY_TO_FULFILL
    assert len(emulator.payment_intents(_customer_id(seller))) == 1


def test_switched_off_it_charges_nothing(auto_shop, emulator, django_capture_on_commit_callbacks):
    _, seller, _ = auto_shop
    scheduled = awaiting_order(auto_shop)  # task lost; the timer would charge it later
    auto_checkout_set(seller=seller, enabled=False, actor=SYSTEM)
    with django_capture_on_commit_callbacks(execute=True):
        later = awaiting_order(auto_shop)
    with time_machine.travel(timezone.now() + timedelta(hours=1)), django_capture_on_commit_callbacks(execute=True):
        process_due_timers()

    assert not AutoCheckout.objects.filter(order=later).exists()
    assert AutoCheckout.objects.get(order=scheduled).next_attempt_at is None
    assert emulator.payment_intents(_customer_id(seller)) == []


def test_an_order_with_a_stock_exception_is_not_charged(auto_shop, emulator, django_capture_on_commit_callbacks):
    partner, seller, _ = auto_shop
    paid_at = timezone.now() - timedelta(hours=2)
    order = make_order(partner=partner, seller=seller, lines=[("UNKNOWN-SKU", 1)], placed_at=paid_at, paid_at=paid_at)
    with django_capture_on_commit_callbacks(execute=True):
        process_due_timers()

    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_CHECKOUT
    auto = AutoCheckout.objects.get(order=order)
    assert (auto.failure_code, auto.next_attempt_at) == ("stock_exception", None)
    assert "match it to one of your SKUs" in auto.failure_message
    assert not Payment.objects.exists()
    assert len(mail.outbox) == 1
