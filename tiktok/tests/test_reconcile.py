"""TikTok is the source of truth for its orders (R16): status, address, deadlines, cancellation, requests, returns."""

from datetime import timedelta

import pytest
import time_machine
from django.test import TestCase
from django.utils import timezone

from accounts.tests.factories import UserFactory
from backoffice.timers import process_due_timers
from core.actors import Actor
from core.errors import TransitionRefused
from fulfillment.services import (
    shipment_hand_over,
    shipment_label,
    shipment_pack,
    shipment_record_carrier_event,
    shipment_start_picking,
)
from fulfillment.tests.factories import CarrierFactory, tracking_number, warehouse_actor
from orders.models import CancelledBy, Order, OrderEvent, OrderStatus
from payments.services import bank_transfer_record
from returns.models import CancellationRequest, CancellationStatus, ReturnRequest, ReturnStatus, ReturnType
from returns.services.cancellations import cancellation_request_reject
from tiktok import mapping
from tiktok.models import CarrierProvider, EventStatus, TikTokEvent, TikTokOrder

pytestmark = pytest.mark.django_db


@pytest.fixture
def deliver(tiktok, client, django_capture_on_commit_callbacks):
    """Deliver every pending webhook to our view, running the tasks they queue."""
    return lambda notes=None: tiktok.deliver(client, notes, capture=django_capture_on_commit_callbacks)


def _carrier():
    """Our carrier, mapped to one of TikTok's shipping providers (labels of TikTok orders need it)."""
    carrier = CarrierFactory(code="acmeship")
    CarrierProvider.objects.get_or_create(carrier=carrier, defaults={"provider_id": "7117858858072016686"})
    return carrier


def _label(**kwargs):
    """Label a TikTok order and let the outbox ship it on TikTok (the order is shipped once TikTok confirms)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return shipment_label(**kwargs)


def _order(tt_order) -> Order:
    return Order.objects.get(external_id=tt_order["id"])


def _pay_wholesale(order: Order) -> None:
    finance = UserFactory(is_staff=True, is_superuser=True, username=f"finance-{order.pk}")
    bank_transfer_record(order_id=order.pk, reference=f"BANK-{order.pk}", actor=Actor.for_user(finance))


def test_same_event_twice_and_events_out_of_order_reach_the_right_final_state(tiktok, shop, deliver):
    tt = tiktok.order(shop.tiktok_id)
    tiktok.control(f"orders/{tt['id']}/pay")
    tiktok.control(f"orders/{tt['id']}/status", {"status": "AWAITING_SHIPMENT"})
    tiktok.control(f"orders/{tt['id']}/status", {"status": "DELIVERED"})
    created, paid, released, delivered = tiktok.drop()

    # The newest first, then the older ones, then everything again.
    deliver([delivered, released, delivered, paid, created, released])

    order = _order(tt)
    assert order.status == OrderStatus.AWAITING_CHECKOUT  # past the hold; our warehouse has not shipped it
    assert order.has_shipping_address
    assert Order.objects.count() == 1
    actions = list(order.events.values_list("action", flat=True))
    assert actions.count("intake") == 1
    assert actions.count("mark_buyer_paid") == 1
    assert actions.count("end_hold_early") == 1
    assert TikTokOrder.objects.get(order=order).status == "DELIVERED"
    assert set(TikTokEvent.objects.values_list("status", flat=True)) == {EventStatus.PROCESSED}
    assert TikTokEvent.objects.count() == 4


def test_unpaid_order_without_address_gets_it_later_and_can_only_then_be_labelled(tiktok, shop, deliver):
    tt = tiktok.order(shop.tiktok_id)
    deliver()
    order = _order(tt)
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert not order.has_shipping_address and order.buyer_name == ""
    assert order.payment_due_at == mapping.when(tt["cancel_order_sla_time"])
    line = order.lines.get()
    assert (line.sku_code, line.quantity, line.unit_price) == ("TSHIRT-M", 2, 1450)

    tiktok.control(f"orders/{tt['id']}/pay")
    deliver()
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD and not order.has_shipping_address
    _pay_wholesale(order)

    # TikTok still holds the order (and its address); our own hold runs out first.
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        process_due_timers()
    order.refresh_from_db()
    assert order.status == OrderStatus.READY_TO_FULFILL
    actor, carrier = warehouse_actor(), _carrier()
    shipment_start_picking(order_id=order.pk, actor=actor)
    shipment_pack(order_id=order.pk, actor=actor)
    with pytest.raises(TransitionRefused) as refused:
        shipment_label(
            order_id=order.pk,
            carrier=carrier,
            tracking_number=tracking_number(1),
            handover_method="pickup",
            actor=actor,
        )
    assert refused.value.code == "no_shipping_address"

    tiktok.control(f"orders/{tt['id']}/status", {"status": "AWAITING_SHIPMENT"})
    deliver()
    order.refresh_from_db()
    assert (order.ship_line1, order.ship_city, order.ship_region, order.ship_country) == (
        "1 Main St",
        "Austin",
        "TX",
        "US",
    )
    assert order.buyer_name == "Jane Doe"
    assert order.events.filter(action="contact_updated", note="address received").exists()
    _label(
        order_id=order.pk, carrier=carrier, tracking_number=tracking_number(1), handover_method="pickup", actor=actor
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    # TikTok's collection deadline is the parcel's.
    assert (
        order.shipment.collect_by
        == order.collect_by
        == mapping.when(tiktok.control(f"orders/{tt['id']}", method="GET")["collection_due_time"])
    )


def test_leaving_on_hold_on_tiktok_ends_our_hold_early(tiktok, shop, deliver):
    tt = tiktok.order(shop.tiktok_id)
    tiktok.control(f"orders/{tt['id']}/pay")
    deliver()
    order = _order(tt)
    assert order.status == OrderStatus.ON_HOLD
    assert order.hold_until > timezone.now() + timedelta(minutes=50)

    tiktok.control(f"orders/{tt['id']}/status", {"status": "AWAITING_SHIPMENT"})
    deliver()
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_CHECKOUT
    event = order.events.get(action="end_hold_early")
    assert event.actor.startswith("system:TikTok event ")
    assert event.get_action_display() == "Hold ended by the marketplace"
    detail = tiktok.control(f"orders/{tt['id']}", method="GET")
    assert order.ship_by == order.tracking_due == mapping.when(detail["shipping_due_time"])
    assert order.deliver_by == mapping.when(detail["delivery_due_time"])


def test_tiktok_cancelling_after_the_hold_cancels_ours_with_its_initiator_and_returns_the_stock(tiktok, shop, deliver):
    tt = tiktok.order(shop.tiktok_id, status="AWAITING_SHIPMENT")
    deliver()
    order = _order(tt)
    assert order.status == OrderStatus.AWAITING_CHECKOUT
    stock = order.lines.get().sku.stock
    stock.refresh_from_db()
    assert stock.reserved == 2

    tiktok.control(f"orders/{tt['id']}/cancel", {"initiator": "SELLER", "reason": "Out of stock"})
    deliver()
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert (order.cancelled_by, order.cancel_reason) == (CancelledBy.SELLER, "TikTok: Out of stock")
    stock.refresh_from_db()
    assert stock.reserved == 0


def test_an_order_first_seen_cancelled_is_not_created(tiktok, shop, deliver):
    tt = tiktok.order(shop.tiktok_id, notify=False)
    tiktok.control(f"orders/{tt['id']}/cancel", {"initiator": "BUYER", "reason": "Changed my mind"})
    deliver()
    assert Order.objects.count() == 0
    assert TikTokEvent.objects.get().status == EventStatus.PROCESSED


def test_a_tiktok_cancellation_of_a_labelled_order_fails_the_event_with_the_reason(tiktok, shop, deliver):
    tt = tiktok.order(shop.tiktok_id, status="AWAITING_SHIPMENT")
    deliver()
    order = _order(tt)
    _pay_wholesale(order)
    actor = warehouse_actor()
    shipment_start_picking(order_id=order.pk, actor=actor)
    shipment_pack(order_id=order.pk, actor=actor)
    _label(
        order_id=order.pk,
        carrier=_carrier(),
        tracking_number=tracking_number(7),
        handover_method="pickup",
        actor=actor,
    )
    # TikTok itself refuses to cancel a shipped package; its operators can still force it.
    tiktok.control(f"orders/{tt['id']}/status", {"status": "CANCELLED"})
    deliver()
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    # Every event about it (TikTok's own "shipped" one, read now as cancelled, and the cancellation) fails so.
    failed = list(TikTokEvent.objects.filter(status=EventStatus.FAILED))
    assert failed and all("already labelled" in event.error for event in failed)


def test_a_buyers_cancellation_request_waits_for_the_seller_until_tiktok_decides(tiktok, shop, deliver):
    tt = tiktok.order(shop.tiktok_id, status="AWAITING_SHIPMENT")
    deliver()
    cancellation = tiktok.control(f"orders/{tt['id']}/cancellations", {"reason": "Found it cheaper"})
    deliver()

    request = CancellationRequest.objects.get()
    assert (request.status, request.external_id, request.reason) == (
        CancellationStatus.PENDING,
        cancellation["cancel_id"],
        "Found it cheaper",
    )
    assert request.respond_by == mapping.when(cancellation["seller_next_action_response"][0]["deadline"])
    assert _order(tt).status == OrderStatus.AWAITING_CHECKOUT

    tiktok.control(f"cancellations/{cancellation['cancel_id']}", {"status": "CANCELLATION_REQUEST_SUCCESS"})
    deliver()
    request.refresh_from_db()
    order = _order(tt)
    assert request.status == CancellationStatus.APPROVED
    assert request.decided_by.startswith("system:TikTok event ")
    assert order.status == OrderStatus.CANCELLED
    assert order.cancelled_by == CancelledBy.BUYER
    assert TikTokEvent.objects.filter(status=EventStatus.FAILED).count() == 0


def test_a_cancellation_request_closed_on_tiktok_is_withdrawn_and_the_seller_answer_is_recorded_locally(
    tiktok, shop, deliver, tt_seller
):
    first = tiktok.order(shop.tiktok_id, status="AWAITING_SHIPMENT")
    second = tiktok.order(shop.tiktok_id, status="AWAITING_SHIPMENT")
    deliver()
    one = tiktok.control(f"orders/{first['id']}/cancellations", {"reason": "Late"})
    two = tiktok.control(f"orders/{second['id']}/cancellations", {"reason": "Late"})
    deliver()

    tiktok.control(f"cancellations/{one['cancel_id']}", {"status": "CANCELLATION_REQUEST_CANCEL"})
    deliver()
    assert CancellationRequest.objects.get(external_id=one["cancel_id"]).status == CancellationStatus.WITHDRAWN

    # The seller answers the other one here; until answers go back to TikTok it is recorded locally only.
    ours = CancellationRequest.objects.get(external_id=two["cancel_id"])
    cancellation_request_reject(request_id=ours.pk, actor=Actor.system("test"), reason="Already packed")
    ours.refresh_from_db()
    assert ours.status == CancellationStatus.REJECTED
    assert _order(second).status == OrderStatus.AWAITING_CHECKOUT


def _deliver_ours(order: Order) -> None:
    """Take our side of a released order through the warehouse to the buyer."""
    _pay_wholesale(order)
    actor = warehouse_actor()
    shipment_start_picking(order_id=order.pk, actor=actor)
    shipment_pack(order_id=order.pk, actor=actor)
    _label(
        order_id=order.pk,
        carrier=_carrier(),
        tracking_number=tracking_number(order.pk),
        handover_method="pickup",
        actor=actor,
    )
    shipment_hand_over(order_id=order.pk, actor=actor)
    shipment_record_carrier_event(order_id=order.pk, type="delivered", at=timezone.now(), actor=actor)


def test_a_tiktok_return_creates_ours_and_follows_tiktoks_decision(tiktok, shop, deliver):
    tt = tiktok.order(shop.tiktok_id, status="AWAITING_SHIPMENT")
    deliver()
    _deliver_ours(_order(tt))
    tiktok.control(f"orders/{tt['id']}/status", {"status": "DELIVERED"})
    ret = tiktok.control(
        f"orders/{tt['id']}/returns", {"type": "RETURN_AND_REFUND", "reason": "Too small", "skus": ["TSHIRT-M"]}
    )
    deliver()

    ours = ReturnRequest.objects.get()
    assert (ours.type, ours.status, ours.external_id, ours.reason) == (
        ReturnType.RETURN_AND_REFUND,
        ReturnStatus.REQUESTED,
        ret["return_id"],
        "Too small",
    )
    assert ours.respond_by == mapping.when(ret["seller_next_action_response"][0]["deadline"])
    assert [(line.order_line.sku_code, line.quantity) for line in ours.lines.all()] == [("TSHIRT-M", 1)]

    tiktok.control(f"returns/{ret['return_id']}", {"status": "AWAITING_BUYER_SHIP"})
    deliver()
    ours.refresh_from_db()
    assert ours.status == ReturnStatus.AWAITING_RETURN_SHIPMENT
    assert ours.decided_by.startswith("system:TikTok event ")
    # A repeat of every event changes nothing.
    deliver(tiktok.notifications())
    assert ReturnRequest.objects.count() == 1
    assert OrderEvent.objects.filter(action="return_requested").count() == 1
