"""Carrier events on a labelled parcel (R10), lost parcels (R9), and who may enter them: accepted only in
order, repeats ignored, timers moving the rest. Time is moved with time-machine."""

from datetime import timedelta

import pytest

from accounts.tests.factories import make_staff_user
from backoffice.timers import process_due_timers
from core.actors import Actor
from core.errors import InvalidInput, PermissionRefused, TransitionRefused
from fulfillment.models import ShipmentStatus
from fulfillment.services import (
    shipment_hand_over,
    shipment_record_carrier_event,
    shipment_start_picking,
    shipment_update_tracking,
)
from fulfillment.tests.factories import make_labelled_order, tracking_number
from fulfillment.tests.shipping import START, order_of, timers_at
from orders.models import OrderStatus
from orders.tests.factories import make_ready_order

# --- carrier events ------------------------------------------------------------------------


@pytest.fixture
def in_transit(partner, seller, sku, carrier, actor, clock):
    order = make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=carrier, number=tracking_number(1)
    )
    clock.move_to(START + timedelta(hours=2))
    shipment_record_carrier_event(
        order_id=order.pk, type="picked_up", at=START + timedelta(hours=1), actor=Actor.for_partner(partner)
    )
    clock.move_to(START + timedelta(days=1))
    return order


def _event(order, partner, type, at):
    return shipment_record_carrier_event(order_id=order.pk, type=type, at=at, actor=Actor.for_partner(partner))


def test_a_carrier_pickup_puts_a_labelled_order_in_transit(in_transit):
    order = order_of(in_transit)
    assert order.status == OrderStatus.IN_TRANSIT
    assert order.shipment.picked_up_at == START + timedelta(hours=1)
    assert order.shipment.last_event_at == START + timedelta(hours=1)


@pytest.mark.parametrize(
    ("type", "hours"),
    [
        ("picked_up", 5),  # a second pickup after the carrier's own pickup
        ("in_transit", 0.5),  # earlier than the last event
        ("delivered", -1),  # before the parcel was labelled
    ],
)
def test_out_of_order_events_are_refused(in_transit, partner, type, hours):
    with pytest.raises(TransitionRefused) as refused:
        _event(in_transit, partner, type, START + timedelta(hours=hours))
    assert (refused.value.code, refused.value.status) == ("event_out_of_order", 409)
    assert order_of(in_transit).status == OrderStatus.IN_TRANSIT


def test_no_event_follows_delivery(in_transit, partner):
    _event(in_transit, partner, "delivered", START + timedelta(hours=10))
    for type in ("picked_up", "in_transit", "delivery_failed"):
        with pytest.raises(TransitionRefused) as refused:
            _event(in_transit, partner, type, START + timedelta(hours=11))
        assert refused.value.code == "event_out_of_order"
    assert order_of(in_transit).status == OrderStatus.DELIVERED


def test_carrier_events_wait_for_the_label(partner, seller, sku, actor, clock):
    order = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    with pytest.raises(TransitionRefused) as refused:
        _event(order, partner, "picked_up", START)
    assert refused.value.code == "event_out_of_order"
    shipment_start_picking(order_id=order.pk, actor=actor)
    with pytest.raises(TransitionRefused):
        _event(order, partner, "in_transit", START)


def test_delivery_failed_needs_the_parcel_in_transit(partner, seller, sku, carrier, actor, clock):
    order = make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=carrier, number=tracking_number(1)
    )
    with pytest.raises(TransitionRefused) as refused:
        _event(order, partner, "delivery_failed", START)
    assert refused.value.code == "event_out_of_order"


def test_a_repeated_event_is_ignored(in_transit, partner):
    at = START + timedelta(hours=8)
    first = _event(in_transit, partner, "delivery_failed", at)
    again = _event(in_transit, partner, "delivery_failed", at)
    assert first.failed_attempts == again.failed_attempts == 1
    assert again.events.filter(action="delivery_failed").count() == 1
    assert in_transit.events.filter(action="carrier_delivery_failed").count() == 1


def test_delivery_after_a_failed_attempt(in_transit, partner):
    _event(in_transit, partner, "delivery_failed", START + timedelta(hours=8))
    order = order_of(in_transit)
    assert order.shipment.status == ShipmentStatus.DELIVERY_FAILED and order.status == OrderStatus.IN_TRANSIT
    _event(in_transit, partner, "in_transit", START + timedelta(hours=9))
    assert order_of(in_transit).shipment.status == ShipmentStatus.IN_TRANSIT
    _event(in_transit, partner, "delivered", START + timedelta(hours=20))
    order = order_of(in_transit)
    assert (order.status, order.shipment.failed_attempts) == (OrderStatus.DELIVERED, 1)


def test_a_carrier_pickup_confirms_a_staff_hand_over(partner, seller, sku, carrier, actor, clock):
    order = make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=carrier, number=tracking_number(1)
    )
    clock.move_to(START + timedelta(hours=3))
    shipment_hand_over(order_id=order.pk, actor=actor)
    # The driver's scan says 2h; staff clicked an hour later. The scan is accepted, not out of order.
    shipment = _event(order, partner, "picked_up", START + timedelta(hours=2))
    assert shipment.picked_up_at == START + timedelta(hours=2)
    assert shipment.status == ShipmentStatus.IN_TRANSIT


def test_events_in_the_future_are_refused(in_transit, partner):
    with pytest.raises(InvalidInput) as refused:
        _event(in_transit, partner, "delivered", START + timedelta(days=1, hours=1))
    assert refused.value.code == "in_future"


def test_lost_after_14_days_without_delivery(in_transit, clock):
    labelled = START
    assert timers_at(clock, labelled + timedelta(days=14) - timedelta(seconds=1))["shipments_lost"] == 0
    assert order_of(in_transit).status == OrderStatus.IN_TRANSIT
    assert timers_at(clock, labelled + timedelta(days=14))["shipments_lost"] == 1
    order = order_of(in_transit)
    assert order.status == OrderStatus.LOST and order.marketplace_status is None
    assert order.shipment.status == ShipmentStatus.LOST
    event = order.events.get(action="mark_lost")
    assert (event.actor, event.note) == ("system:timer", "not delivered 14 days after labelling")
    assert timers_at(clock, labelled + timedelta(days=15))["shipments_lost"] == 0


def test_a_parcel_still_awaiting_collection_is_lost_after_14_days_too(partner, seller, sku, carrier, clock):
    order = make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=carrier, number=tracking_number(1)
    )
    assert timers_at(clock, START + timedelta(days=14))["shipments_lost"] == 1
    assert order_of(order).status == OrderStatus.LOST


def test_lost_after_two_failed_attempts(in_transit, partner, clock):
    _event(in_transit, partner, "delivery_failed", START + timedelta(hours=8))
    assert process_due_timers()["shipments_lost"] == 0
    assert order_of(in_transit).status == OrderStatus.IN_TRANSIT

    _event(in_transit, partner, "delivery_failed", START + timedelta(hours=20))
    assert order_of(in_transit).status == OrderStatus.IN_TRANSIT, "the timer declares it lost, not the event"
    assert process_due_timers()["shipments_lost"] == 1
    order = order_of(in_transit)
    assert order.status == OrderStatus.LOST
    assert order.shipment.failed_attempts == 2
    assert order.events.get(action="mark_lost").note == "2 failed delivery attempts"


def test_a_delivered_parcel_is_never_lost(in_transit, partner, clock):
    _event(in_transit, partner, "delivered", START + timedelta(hours=10))
    assert timers_at(clock, START + timedelta(days=30))["shipments_lost"] == 0
    assert order_of(in_transit).status == OrderStatus.COMPLETED


def test_the_failed_attempts_limit_is_a_setting(in_transit, partner, settings):
    settings.LOST_AFTER_FAILED_ATTEMPTS = 3
    _event(in_transit, partner, "delivery_failed", START + timedelta(hours=8))
    _event(in_transit, partner, "delivery_failed", START + timedelta(hours=9))
    assert process_due_timers()["shipments_lost"] == 0
    _event(in_transit, partner, "delivery_failed", START + timedelta(hours=10))
    assert process_due_timers()["shipments_lost"] == 1


def test_a_failing_lost_timer_records_the_error_and_retries(in_transit, clock, monkeypatch):
    from fulfillment import timers

    def broken(**kwargs):
        raise RuntimeError("carrier API down")

    monkeypatch.setattr(timers, "shipment_mark_lost", broken)
    clock.move_to(START + timedelta(days=15))
    process_due_timers()
    order = order_of(in_transit)
    assert order.status == OrderStatus.IN_TRANSIT and "carrier API down" in order.timer_error
    monkeypatch.undo()
    assert process_due_timers()["shipments_lost"] == 1
    assert order_of(in_transit).status == OrderStatus.LOST


# --- who may do what -------------------------------------------------------------------------


def test_only_warehouse_staff_work_shipments(partner, seller, sku, clock):
    order = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    finance = Actor.for_user(make_staff_user("Finance"))
    with pytest.raises(PermissionRefused):
        shipment_start_picking(order_id=order.pk, actor=finance)
    warehouse = Actor.for_user(make_staff_user("Warehouse"))
    shipment_start_picking(order_id=order.pk, actor=warehouse)
    assert order_of(order).status == OrderStatus.IN_FULFILLMENT


def test_support_may_enter_carrier_events_but_not_label(in_transit, clock):
    support = Actor.for_user(make_staff_user("Support"))
    with pytest.raises(PermissionRefused):
        shipment_update_tracking(order_id=in_transit.pk, tracking_number=tracking_number(9), actor=support)
    shipment_record_carrier_event(
        order_id=in_transit.pk, type="delivered", at=START + timedelta(hours=5), actor=support
    )
    assert order_of(in_transit).status == OrderStatus.DELIVERED
