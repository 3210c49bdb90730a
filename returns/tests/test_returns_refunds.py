"""Returns and money, against a real Stripe emulator: the seller's refund for a partial return is exact, a
replacement is never charged (Auto Checkout included), and two decisions at once refund once."""

from __future__ import annotations

import pytest
import requests
from django.conf import settings

from accounts.models import Seller
from backoffice.timers import process_due_timers
from core.errors import InvalidInput, TransitionRefused
from core.testing import run_in_threads
from fulfillment.models import Stock
from fulfillment.services import shipment_label, shipment_pack, shipment_start_picking
from fulfillment.tests.factories import CarrierFactory, tracking_number
from orders.models import OrderStatus
from payments.models import AutoCheckout, Payment, PaymentOrder, PaymentStatus, Refund, RefundStatus
from payments.selectors import seller_customer
from returns.models import ReturnRequest, ReturnStatus, ReturnType
from returns.selectors import return_refund_share
from returns.services.returns import return_approve, return_inspect, return_refund_decide, return_replace
from returns.tests.return_support import (
    deliver,
    request_return,
    staff,
    stripe_delivered_order,
    to_inspected,
    to_received,
)


@pytest.fixture
def carrier(db):
    return CarrierFactory(code="backpost", name="Back Post")


def _charge(emulator, payment) -> dict:
    return requests.get(
        f"{emulator.url}/v1/charges/{payment.stripe_charge_id}", auth=(settings.STRIPE_SECRET_KEY, ""), timeout=10
    ).json()


@pytest.mark.django_db
def test_a_partial_return_restocks_and_refunds_exact_amounts(
    emulator, shop, carrier, django_capture_on_commit_callbacks
):
    _, seller, mug = shop
    order, payment = stripe_delivered_order(emulator, shop, carrier, quantity=3)
    assert payment.amount == 3 * 1250
    on_hand = Stock.objects.get(sku=mug).on_hand
    ret = request_return(order, type=ReturnType.RETURN_AND_REFUND, units={"MUG": 2})
    ret = to_inspected(ret, carrier, results={"MUG": (1, 1)})

    assert Stock.objects.get(sku=mug).on_hand == on_hand + 1  # the resellable mug only
    share = return_refund_share(ret)
    assert (share.payment_id, share.refundable, share.suggested) == (payment.pk, 3750, 2500)
    finance = staff("Finance")
    with pytest.raises(InvalidInput) as too_much:
        return_refund_decide(return_id=ret.pk, amount=3751, actor=finance)
    assert too_much.value.code == "exceeds_refundable"
    assert not Refund.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        ret = return_refund_decide(return_id=ret.pk, amount=1800, note="one mug damaged by the buyer", actor=finance)

    refund = Refund.objects.get()
    assert (ret.status, ret.refund_amount, ret.refund_id) == (ReturnStatus.REFUNDED, 1800, refund.pk)
    assert (refund.amount, refund.status, refund.allocation.order_id) == (1800, RefundStatus.SUCCEEDED, order.pk)
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.PARTIALLY_REFUNDED, 1800)
    assert PaymentOrder.objects.get(order=order).amount_refunded == 1800
    assert _charge(emulator, payment)["amount_refunded"] == 1800
    # Deciding again changes nothing, whatever the amount.
    with django_capture_on_commit_callbacks(execute=True):
        again = return_refund_decide(return_id=ret.pk, amount=500, actor=finance)
    assert (again.refund_amount, Refund.objects.count()) == (1800, 1)
    assert _charge(emulator, payment)["amount_refunded"] == 1800
    # What is left of the order's share is all a second return could get back.
    second = request_return(order, type=ReturnType.REFUND_ONLY, units={"MUG": 1})
    assert return_refund_share(second).refundable == 3750 - 1800


@pytest.mark.django_db
def test_a_replacement_is_never_charged_even_with_auto_checkout(
    emulator, shop, carrier, django_capture_on_commit_callbacks
):
    _, seller, _ = shop
    order, payment = stripe_delivered_order(emulator, shop, carrier, quantity=2)
    Seller.objects.filter(pk=seller.pk).update(auto_checkout=True)
    ret = to_inspected(request_return(order, type=ReturnType.REPLACEMENT, units={"MUG": 1}), carrier)

    with django_capture_on_commit_callbacks(execute=True):
        ret = return_replace(return_id=ret.pk, actor=staff("Support"))
    process_due_timers()

    replacement = ret.replacement_order
    replacement.refresh_from_db()
    assert replacement.status == OrderStatus.READY_TO_FULFILL
    assert list(Payment.objects.all()) == [payment]
    assert not PaymentOrder.objects.filter(order=replacement).exists()
    assert not AutoCheckout.objects.filter(order=replacement).exists()
    assert len(emulator.payment_intents(seller_customer(seller=seller).id)) == 1
    # Shipped and delivered like any order; a return of it has nothing to refund: the seller never paid for it.
    actor = staff("Warehouse")
    shipment_start_picking(order_id=replacement.pk, actor=actor)
    shipment_pack(order_id=replacement.pk, actor=actor)
    shipment_label(
        order_id=replacement.pk,
        carrier=carrier,
        tracking_number=tracking_number(990),
        handover_method="pickup",
        actor=actor,
    )
    replacement = deliver(replacement)
    second = request_return(replacement, type=ReturnType.REFUND_ONLY)
    return_approve(return_id=second.pk, actor=staff("Support"))
    with pytest.raises(TransitionRefused) as refused:
        return_refund_decide(return_id=second.pk, amount=100, actor=staff("Finance"))
    assert refused.value.code == "replacement_not_charged"
    assert list(Payment.objects.all()) == [payment]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_refund_decisions_at_once_refund_once(emulator, shop, carrier):
    order, payment = stripe_delivered_order(emulator, shop, carrier, quantity=2)
    ret = to_inspected(request_return(order, type=ReturnType.RETURN_AND_REFUND, units={"MUG": 2}), carrier)
    finance = staff("Finance")

    results, errors = run_in_threads(2, lambda i: return_refund_decide(return_id=ret.pk, amount=2500, actor=finance))

    assert errors == []
    assert {r.status for r in results} == {ReturnStatus.REFUNDED}
    refund = Refund.objects.get()
    assert (refund.amount, refund.status) == (2500, RefundStatus.SUCCEEDED)
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.REFUNDED, 2500)
    assert _charge(emulator, payment)["amount_refunded"] == 2500


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_inspections_at_once_restock_once(emulator, shop, carrier):
    _, _, mug = shop
    order, _ = stripe_delivered_order(emulator, shop, carrier, quantity=3)
    ret = to_received(request_return(order, type=ReturnType.RETURN_AND_REFUND, units={"MUG": 3}), carrier)
    line = ret.lines.get()
    on_hand = Stock.objects.get(sku=mug).on_hand
    warehouse_actors = [staff("Warehouse"), staff("Warehouse")]

    results, errors = run_in_threads(
        2, lambda i: return_inspect(return_id=ret.pk, results={line.pk: (2, 1)}, actor=warehouse_actors[i])
    )

    assert errors == []
    assert {r.status for r in results} == {ReturnStatus.INSPECTED}
    assert Stock.objects.get(sku=mug).on_hand == on_hand + 2
    assert ReturnRequest.objects.get(pk=ret.pk).events.filter(action="inspect").count() == 1
