"""Manual checkout against a real Stripe emulator: one charge for a selection, per-order results, declines."""

from datetime import timedelta

import pytest
import requests
import time_machine
from django.utils import timezone

from accounts.tests.factories import PartnerFactory, SellerFactory
from backoffice.timers import process_due_timers
from core.errors import InvalidInput
from fulfillment.tests.factories import make_sku
from orders.models import OrderStatus
from orders.tests.factories import make_order
from payments.models import Payment, PaymentOrder, PaymentStatus, PaymentTrigger
from payments.selectors import checkout_quote, order_checkout, unpaid_orders
from payments.services import checkout_orders, payment_refresh
from payments.tests.conftest import SYSTEM, add_card, awaiting_order, held_order

pytestmark = pytest.mark.django_db


def test_paying_a_selection_charges_once_and_sends_each_order_on(emulator, shop):
    _, seller, _ = shop
    card = add_card(emulator, seller)
    first, second = awaiting_order(shop, quantity=2), awaiting_order(shop, quantity=1)
    on_hold = held_order(shop, quantity=3)
    assert set(unpaid_orders(seller=seller)) == {first, second, on_hold}
    quote = checkout_quote(seller=seller, order_ids=[first.pk, second.pk, on_hold.pk])
    assert quote.total == (2 + 1 + 3) * 1250 and quote.currency == "usd"

    result = checkout_orders(seller=seller, order_ids=[first.pk, second.pk, on_hold.pk], actor=SYSTEM)

    assert [(r.order_id, r.outcome, r.amount) for r in result.orders] == [
        (first.pk, "paid", 2500),
        (second.pk, "paid", 1250),
        (on_hold.pk, "paid", 3750),
    ]
    payment = result.payment
    assert (payment.status, payment.amount, payment.trigger) == (PaymentStatus.SUCCEEDED, 7500, PaymentTrigger.MANUAL)
    assert payment.stripe_payment_method_id == card.id
    intents = emulator.payment_intents(payment.stripe_customer_id)
    assert [(pi["id"], pi["amount"], pi["status"], pi["metadata"]["payment_id"]) for pi in intents] == [
        (payment.stripe_payment_intent_id, 7500, "succeeded", str(payment.pk))
    ]
    for order in (first, second, on_hold):
        order.refresh_from_db()
        assert order.seller_paid_at is not None
        assert order.seller_payment_reference == payment.stripe_payment_intent_id
        assert order_checkout(order).status == "paid"
    assert (first.status, second.status) == (OrderStatus.READY_TO_FULFILL, OrderStatus.READY_TO_FULFILL)
    # Paid during the hold: it goes straight to the warehouse when the hold ends (R4).
    assert on_hold.status == OrderStatus.ON_HOLD
    assert list(unpaid_orders(seller=seller)) == []
    with time_machine.travel(on_hold.hold_until + timedelta(seconds=1)):
        process_due_timers()
    on_hold.refresh_from_db()
    assert on_hold.status == OrderStatus.READY_TO_FULFILL
    assert len(emulator.payment_intents(payment.stripe_customer_id)) == 1


def test_orders_that_cannot_be_paid_are_skipped_and_say_why(emulator, shop):
    partner, seller, sku = shop
    add_card(emulator, seller)
    payable = awaiting_order(shop)
    unknown_sku = make_order(partner=partner, seller=seller, lines=[("NOPE", 1)], paid_at=timezone.now())
    buyer_unpaid = make_order(partner=partner, seller=seller, lines=[(sku.code, 1)])
    other_seller = SellerFactory(code="ELSEWHERE")
    make_sku(seller=other_seller, code="MUG")
    theirs = make_order(
        partner=PartnerFactory(sellers=[other_seller]), seller=other_seller, lines=[("MUG", 1)], paid_at=timezone.now()
    )

    result = checkout_orders(
        seller=seller, order_ids=[payable.pk, unknown_sku.pk, buyer_unpaid.pk, theirs.pk, 999999], actor=SYSTEM
    )

    outcomes = {r.order_id: (r.outcome, r.code) for r in result.orders}
    assert outcomes == {
        payable.pk: ("paid", "paid"),
        unknown_sku.pk: ("skipped", "stock_exception"),
        buyer_unpaid.pk: ("skipped", "buyer_not_paid"),
        theirs.pk: ("skipped", "not_found"),
        999999: ("skipped", "not_found"),
    }
    assert all(r.message for r in result.orders)
    assert result.payment.amount == 2 * 1250

    # Paying the same order again charges nothing.
    again = checkout_orders(seller=seller, order_ids=[payable.pk], actor=SYSTEM)
    assert again.payment is None
    assert [(r.outcome, r.code) for r in again.orders] == [("skipped", "already_paid")]
    assert len(emulator.payment_intents(result.payment.stripe_customer_id)) == 1


def test_a_declined_card_says_why_in_plain_words_and_another_card_pays(emulator, shop):
    _, seller, _ = shop
    add_card(emulator, seller, "declines_charges")
    good = add_card(emulator, seller, "ok")
    order = awaiting_order(shop)

    declined = checkout_orders(seller=seller, order_ids=[order.pk], actor=SYSTEM)

    [line] = declined.orders
    assert (line.outcome, line.code) == ("declined", "card_declined")
    assert line.message == "Your bank declined the charge. Try another card, or ask your bank why."
    assert declined.payment.status == PaymentStatus.FAILED
    assert declined.payment.failure_message == line.message
    order.refresh_from_db()
    assert (order.status, order.seller_paid_at) == (OrderStatus.AWAITING_CHECKOUT, None)
    assert order_checkout(order).status == "unpaid"
    assert not PaymentOrder.objects.filter(order=order, active=True).exists()

    paid = checkout_orders(seller=seller, order_ids=[order.pk], actor=SYSTEM, payment_method_id=good.id)
    assert [r.outcome for r in paid.orders] == ["paid"]
    order.refresh_from_db()
    assert order.status == OrderStatus.READY_TO_FULFILL
    assert PaymentOrder.objects.filter(order=order).count() == 2


def test_the_fulfilment_fee_is_added_per_order(emulator, shop, settings):
    settings.FULFILMENT_FEE = 300
    _, seller, _ = shop
    add_card(emulator, seller)
    orders = [awaiting_order(shop, quantity=1), awaiting_order(shop, quantity=2)]
    result = checkout_orders(seller=seller, order_ids=[o.pk for o in orders], actor=SYSTEM)
    assert [r.amount for r in result.orders] == [1250 + 300, 2500 + 300]
    assert result.payment.amount == 4350


def test_no_card_or_a_foreign_card_is_refused(emulator, shop):
    _, seller, _ = shop
    order = awaiting_order(shop)
    with pytest.raises(InvalidInput) as exc:
        checkout_orders(seller=seller, order_ids=[order.pk], actor=SYSTEM)
    assert exc.value.code == "no_card"
    other = SellerFactory(code="CARDOWNER")
    theirs = add_card(emulator, other)
    add_card(emulator, seller)
    with pytest.raises(Exception) as exc:
        checkout_orders(seller=seller, order_ids=[order.pk], actor=SYSTEM, payment_method_id=theirs.id)
    assert exc.value.code == "card_not_found"
    assert not Payment.objects.exists()


def _authenticate(emulator, payment, *, success: bool, publishable_key: str):
    """What Stripe.js does when the seller answers their bank's 3-D Secure prompt."""
    response = requests.post(
        f"{emulator.url}/v1/payment_intents/{payment.stripe_payment_intent_id}/_authenticate",
        params={"success": "true" if success else "false"},
        json={"key": publishable_key, "client_secret": payment.client_secret},
        timeout=10,
    )
    assert response.ok, response.text


def test_a_bank_confirmation_is_finished_in_the_browser_then_read_back(emulator, shop, settings):
    _, seller, _ = shop
    add_card(emulator, seller, "needs_authentication")
    order = awaiting_order(shop)

    result = checkout_orders(seller=seller, order_ids=[order.pk], actor=SYSTEM)

    assert [r.outcome for r in result.orders] == ["requires_action"]
    assert result.client_secret.startswith(result.payment.stripe_payment_intent_id)
    assert order_checkout(order).status == "requires_action"
    _authenticate(emulator, result.payment, success=True, publishable_key=settings.STRIPE_PUBLISHABLE_KEY)

    payment = payment_refresh(seller=seller, payment_id=result.payment.pk, actor=SYSTEM)

    assert payment.status == PaymentStatus.SUCCEEDED and payment.client_secret == ""
    order.refresh_from_db()
    assert order.status == OrderStatus.READY_TO_FULFILL


def test_paying_again_cancels_a_confirmation_left_unfinished(emulator, shop):
    _, seller, _ = shop
    add_card(emulator, seller, "needs_authentication")
    good = add_card(emulator, seller, "ok")
    order = awaiting_order(shop)
    waiting = checkout_orders(seller=seller, order_ids=[order.pk], actor=SYSTEM).payment

    paid = checkout_orders(seller=seller, order_ids=[order.pk], actor=SYSTEM, payment_method_id=good.id)

    assert [r.outcome for r in paid.orders] == ["paid"]
    waiting.refresh_from_db()
    assert (waiting.status, waiting.failure_code) == (PaymentStatus.FAILED, "abandoned")
    intents = {pi["id"]: pi["status"] for pi in emulator.payment_intents(waiting.stripe_customer_id)}
    assert intents == {waiting.stripe_payment_intent_id: "canceled", paid.payment.stripe_payment_intent_id: "succeeded"}
