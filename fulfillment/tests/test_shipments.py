"""The warehouse path of an order: pick, pack, label, hand over, carrier events, delivery, completion,
and what each step refuses. Time is moved with time-machine; timers run through process_due_timers()."""

from datetime import timedelta

import pytest
from django.db import transaction

from accounts.tests.factories import make_staff_user
from core.actors import Actor
from core.errors import InvalidInput, TransitionRefused
from fulfillment.models import Reservation, Shipment, ShipmentEvent, ShipmentStatus
from fulfillment.services import (
    shipment_hand_over,
    shipment_label,
    shipment_pack,
    shipment_record_carrier_event,
    shipment_start_picking,
    shipment_update_tracking,
)
from fulfillment.tests.factories import CarrierFactory, make_labelled_order, tracking_number
from fulfillment.tests.shipping import START, order_of, stock_of, timers_at
from orders.models import OrderStatus
from orders.services import order_cancel
from orders.tests.factories import make_ready_order


def test_the_whole_path_from_ready_to_completed(partner, seller, sku, carrier, actor, clock):
    clock.move_to(START + timedelta(hours=2))
    order = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 3)], placed_at=START)
    assert order.status == OrderStatus.READY_TO_FULFILL
    assert (order.ship_by, order.tracking_due, order.deliver_by) == (
        START + timedelta(hours=72),
        START + timedelta(hours=72),
        START + timedelta(days=11),
    )
    assert stock_of(sku) == (10, 3)

    clock.move_to(START + timedelta(hours=3))
    shipment = shipment_start_picking(order_id=order.pk, actor=actor)
    assert (shipment.status, order_of(order).status) == (ShipmentStatus.PICKING, OrderStatus.IN_FULFILLMENT)

    shipment = shipment_pack(order_id=order.pk, actor=actor)
    assert (shipment.status, order_of(order).status) == (ShipmentStatus.PACKED, OrderStatus.IN_FULFILLMENT)
    assert stock_of(sku) == (10, 3), "stock stays reserved until the label"

    clock.move_to(START + timedelta(hours=5))
    shipment = shipment_label(
        order_id=order.pk, carrier=carrier, tracking_number="trk 0000 0042", handover_method="pickup", actor=actor
    )
    order = order_of(order)
    assert order.status == OrderStatus.SHIPPED and order.marketplace_status == "AWAITING_COLLECTION"
    assert shipment.tracking_number == "TRK00000042", "stored without spaces, upper-cased"
    assert shipment.labelled_at == order.shipped_at == START + timedelta(hours=5)
    assert shipment.collect_by == START + timedelta(hours=5 + 48)
    assert shipment.lost_deadline == START + timedelta(hours=5) + timedelta(days=14)
    assert stock_of(sku) == (7, 0), "the units leave on_hand and reserved together"
    assert all(r.consumed_at == START + timedelta(hours=5) for r in Reservation.objects.filter(line__order=order))

    clock.move_to(START + timedelta(hours=20))
    shipment = shipment_hand_over(order_id=order.pk, actor=actor)
    assert shipment.status == ShipmentStatus.IN_TRANSIT and shipment.picked_up_at == START + timedelta(hours=20)
    assert order_of(order).status == OrderStatus.IN_TRANSIT

    clock.move_to(START + timedelta(days=2))
    partner_actor = Actor.for_partner(partner)
    shipment_record_carrier_event(
        order_id=order.pk, type="in_transit", at=START + timedelta(hours=30), note="Memphis hub", actor=partner_actor
    )
    assert order_of(order).status == OrderStatus.IN_TRANSIT

    clock.move_to(START + timedelta(days=3))
    delivered_at = START + timedelta(days=3) - timedelta(hours=1)
    shipment = shipment_record_carrier_event(order_id=order.pk, type="delivered", at=delivered_at, actor=partner_actor)
    order = order_of(order)
    assert shipment.status == ShipmentStatus.DELIVERED and order.status == OrderStatus.DELIVERED
    assert order.delivered_at == delivered_at
    assert order.return_window_ends_at == delivered_at + timedelta(days=7)

    assert timers_at(clock, delivered_at + timedelta(days=7) - timedelta(seconds=1))["orders_completed"] == 0
    assert order_of(order).status == OrderStatus.DELIVERED
    assert timers_at(clock, delivered_at + timedelta(days=7))["orders_completed"] == 1
    order = order_of(order)
    assert order.status == OrderStatus.COMPLETED and order.marketplace_status == "COMPLETED"
    assert order.completed_at == delivered_at + timedelta(days=7)
    assert timers_at(clock, delivered_at + timedelta(days=8))["orders_completed"] == 0

    actions = list(order.events.values_list("action", flat=True))
    assert actions[actions.index("start_fulfillment") :] == [
        "start_fulfillment",
        "shipment_packed",
        "mark_shipped",
        "mark_in_transit",
        "carrier_in_transit",
        "mark_delivered",
        "complete",
    ]
    assert list(shipment.events.values_list("action", flat=True)) == [
        "picking_started",
        "packed",
        "labelled",
        "handed_over",
        "in_transit",
        "delivered",
    ]
    labelled = shipment.events.get(action="labelled")
    assert labelled.actor == "staff:warehouse-lead"
    assert labelled.data == {"carrier": "acmeship", "tracking_number": "TRK00000042", "handover_method": "pickup"}


def test_steps_repeated_are_no_ops(partner, seller, sku, carrier, actor, clock):
    order = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    first = shipment_start_picking(order_id=order.pk, actor=actor)
    assert shipment_start_picking(order_id=order.pk, actor=actor).pk == first.pk
    shipment_pack(order_id=order.pk, actor=actor)
    shipment_pack(order_id=order.pk, actor=actor)
    shipment_label(
        order_id=order.pk, carrier=carrier, tracking_number=tracking_number(1), handover_method="pickup", actor=actor
    )
    shipment_label(
        order_id=order.pk, carrier=carrier, tracking_number=tracking_number(1), handover_method="pickup", actor=actor
    )
    shipment_hand_over(order_id=order.pk, actor=actor)
    shipment_hand_over(order_id=order.pk, actor=actor)
    assert stock_of(sku) == (9, 0), "labelling twice ships the stock once"
    assert list(first.events.values_list("action", flat=True)) == [
        "picking_started",
        "packed",
        "labelled",
        "handed_over",
    ]
    assert Shipment.objects.filter(order=order).count() == 1


def test_labelling_again_with_other_tracking_is_refused(partner, seller, sku, carrier, actor, clock):
    order = make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=carrier, number=tracking_number(1)
    )
    with pytest.raises(TransitionRefused) as refused:
        shipment_label(
            order_id=order.pk,
            carrier=carrier,
            tracking_number=tracking_number(2),
            handover_method="pickup",
            actor=actor,
        )
    assert refused.value.code == "already_labelled"


def test_work_cannot_start_before_the_order_is_ready(partner, seller, sku, actor, clock):
    from orders.tests.factories import make_order

    on_hold = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], paid_at=START)
    with pytest.raises(TransitionRefused) as refused:
        shipment_start_picking(order_id=on_hold.pk, actor=actor)
    assert refused.value.code == "not_ready_to_fulfill"
    assert order_of(on_hold).status == OrderStatus.ON_HOLD
    assert not Shipment.objects.filter(order=on_hold).exists()


def test_a_parcel_is_packed_before_it_is_labelled(partner, seller, sku, carrier, actor, clock):
    order = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    with pytest.raises(TransitionRefused) as refused:
        shipment_label(
            order_id=order.pk,
            carrier=carrier,
            tracking_number=tracking_number(1),
            handover_method="pickup",
            actor=actor,
        )
    assert refused.value.code == "not_packed"
    shipment_start_picking(order_id=order.pk, actor=actor)
    with pytest.raises(TransitionRefused) as refused:
        shipment_label(
            order_id=order.pk,
            carrier=carrier,
            tracking_number=tracking_number(1),
            handover_method="pickup",
            actor=actor,
        )
    assert refused.value.code == "not_packed"
    with pytest.raises(TransitionRefused) as refused:
        shipment_hand_over(order_id=order.pk, actor=actor)
    assert refused.value.code == "not_labelled"
    assert stock_of(order.lines.get().sku) == (10, 1)


def _packed(partner, seller, actor, lines=(("TSHIRT-M", 1),)):
    order = make_ready_order(partner=partner, seller=seller, lines=list(lines))
    shipment_start_picking(order_id=order.pk, actor=actor)
    shipment_pack(order_id=order.pk, actor=actor)
    return order


@pytest.mark.parametrize(
    "number",
    ["TRK1234567", "TRK123456789", "1Z999AA10123456784", "TRK1234567X", ""],
)
def test_a_tracking_number_that_does_not_match_the_carrier_is_refused(
    partner, seller, sku, carrier, actor, clock, number
):
    order = _packed(partner, seller, actor)
    with pytest.raises(InvalidInput) as refused:
        shipment_label(
            order_id=order.pk, carrier=carrier, tracking_number=number, handover_method="pickup", actor=actor
        )
    assert refused.value.code == ("tracking_number_required" if not number else "tracking_number_invalid")
    if number:
        # Said by example, never as the pattern (a regex means nothing to the person labelling).
        assert "is not a valid AcmeShip tracking number" in refused.value.detail
        assert "TRK followed by 8 digits, such as TRK00000001" in refused.value.detail
        assert "^TRK" not in refused.value.detail
    assert order_of(order).status == OrderStatus.IN_FULFILLMENT
    assert stock_of(sku) == (10, 1)


def test_a_seeded_carrier_checks_its_real_pattern(partner, seller, sku, actor, clock):
    order = _packed(partner, seller, actor)
    with pytest.raises(InvalidInput) as refused:
        shipment_label(
            order_id=order.pk, carrier="ups", tracking_number="123456789012", handover_method="pickup", actor=actor
        )
    assert refused.value.code == "tracking_number_invalid"
    shipment = shipment_label(
        order_id=order.pk,
        carrier="ups",
        tracking_number="1z 999 aa1 01 2345 6784",
        handover_method="dropoff",
        actor=actor,
    )
    assert shipment.tracking_number == "1Z999AA10123456784"
    assert shipment.tracking_link == "https://www.ups.com/track?tracknum=1Z999AA10123456784"


def test_a_handover_the_carrier_does_not_offer_is_refused(partner, seller, sku, actor, clock):
    pickup_only = CarrierFactory(code="courier", name="Courier", handover="pickup")
    order = _packed(partner, seller, actor)
    with pytest.raises(InvalidInput) as refused:
        shipment_label(
            order_id=order.pk,
            carrier=pickup_only,
            tracking_number=tracking_number(5),
            handover_method="dropoff",
            actor=actor,
        )
    assert refused.value.code == "handover_not_offered"
    assert "Courier does not offer drop-off" in refused.value.detail
    with pytest.raises(InvalidInput) as refused:
        shipment_label(
            order_id=order.pk,
            carrier=pickup_only,
            tracking_number=tracking_number(5),
            handover_method="courier",
            actor=actor,
        )
    assert refused.value.code == "invalid_handover"


def test_inactive_and_unknown_carriers_are_refused(partner, seller, sku, actor, clock):
    retired = CarrierFactory(code="retired", active=False)
    order = _packed(partner, seller, actor)
    for carrier, code in ((retired, "carrier_inactive"), ("nope", "unknown_carrier")):
        with pytest.raises(InvalidInput) as refused:
            shipment_label(
                order_id=order.pk,
                carrier=carrier,
                tracking_number=tracking_number(1),
                handover_method="pickup",
                actor=actor,
            )
        assert refused.value.code == code


def test_the_handover_method_sets_the_collection_deadline(partner, seller, sku, carrier, actor, clock, settings):
    settings.COLLECTION_WINDOW_PICKUP = timedelta(hours=48)
    settings.COLLECTION_WINDOW_DROPOFF = timedelta(hours=24)
    pickup, dropoff = _packed(partner, seller, actor), _packed(partner, seller, actor)
    a = shipment_label(
        order_id=pickup.pk, carrier=carrier, tracking_number=tracking_number(1), handover_method="pickup", actor=actor
    )
    b = shipment_label(
        order_id=dropoff.pk, carrier=carrier, tracking_number=tracking_number(2), handover_method="dropoff", actor=actor
    )
    assert a.collect_by == START + timedelta(hours=48)
    assert b.collect_by == START + timedelta(hours=24)


def test_one_tracking_number_cannot_label_two_parcels(partner, seller, sku, carrier, actor, clock):
    make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=carrier, number=tracking_number(7)
    )
    order = _packed(partner, seller, actor)
    with pytest.raises(InvalidInput) as refused:
        shipment_label(
            order_id=order.pk,
            carrier=carrier,
            tracking_number=tracking_number(7),
            handover_method="pickup",
            actor=actor,
        )
    assert refused.value.code == "tracking_number_in_use"
    # The same number at another carrier is another parcel.
    other = CarrierFactory(code="other")
    shipment_label(
        order_id=order.pk, carrier=other, tracking_number=tracking_number(7), handover_method="pickup", actor=actor
    )


def test_cancel_while_picking_returns_the_stock_and_closes_the_parcel(partner, seller, sku, actor, clock):
    order = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 4)])
    shipment_start_picking(order_id=order.pk, actor=actor)
    shipment_pack(order_id=order.pk, actor=actor)
    assert stock_of(sku) == (10, 4)

    order_cancel(order_id=order.pk, by="seller", reason="damaged in the warehouse", actor=Actor.for_partner(partner))

    order = order_of(order)
    assert order.status == OrderStatus.CANCELLED and order.cancelled_by == "seller"
    assert stock_of(sku) == (10, 0)
    assert order.shipment.status == ShipmentStatus.CANCELLED
    assert order.shipment.events.last().action == "cancelled"
    with pytest.raises(TransitionRefused):
        shipment_pack(order_id=order.pk, actor=actor)
    with pytest.raises(TransitionRefused) as refused:
        shipment_start_picking(order_id=order.pk, actor=actor)
    assert refused.value.code == "order_cancelled"


def test_staff_cancel_while_picking(partner, seller, sku, actor, clock):
    order = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 2)])
    shipment_start_picking(order_id=order.pk, actor=actor)
    support = make_staff_user("Support")
    order_cancel(order_id=order.pk, by="staff", reason="out of stock", actor=Actor.for_user(support))
    assert order_of(order).status == OrderStatus.CANCELLED
    assert stock_of(sku) == (10, 0)


@pytest.mark.parametrize("step", ["labelled", "in_transit", "delivered"])
def test_nothing_cancels_after_labelling(partner, seller, sku, carrier, actor, clock, step):
    order = make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 2)], carrier=carrier, number=tracking_number(1)
    )
    if step != "labelled":
        shipment_hand_over(order_id=order.pk, actor=actor)
    if step == "delivered":
        shipment_record_carrier_event(order_id=order.pk, type="delivered", at=START, actor=Actor.for_partner(partner))
    for by in ("seller", "staff"):
        with pytest.raises(TransitionRefused) as refused:
            order_cancel(order_id=order.pk, by=by, reason="too late", actor=actor)
        assert refused.value.code == "already_shipped"
    assert (
        order_of(order).status
        == {"labelled": OrderStatus.SHIPPED, "in_transit": OrderStatus.IN_TRANSIT, "delivered": OrderStatus.DELIVERED}[
            step
        ]
    )
    assert stock_of(sku) == (8, 0), "shipped stock is not put back"


# --- tracking corrections ----------------------------------------------------------------


def test_tracking_can_be_corrected_for_72h_and_is_audited(partner, seller, sku, carrier, actor, clock):
    order = make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=carrier, number=tracking_number(1)
    )
    other = CarrierFactory(code="othership", name="OtherShip")

    clock.move_to(START + timedelta(hours=71, minutes=59))
    shipment = shipment_update_tracking(
        order_id=order.pk, carrier=other, tracking_number=tracking_number(2), reason="label reprinted", actor=actor
    )
    assert (shipment.carrier.code, shipment.tracking_number) == ("othership", "TRK00000002")
    event = shipment.events.get(action="tracking_updated")
    assert event.data == {
        "old": {"carrier": "acmeship", "tracking_number": "TRK00000001"},
        "new": {"carrier": "othership", "tracking_number": "TRK00000002"},
    }
    assert (event.note, event.actor) == ("label reprinted", "staff:warehouse-lead")
    audit = order.events.get(action="tracking_updated")
    assert audit.note == "acmeship TRK00000001 → othership TRK00000002: label reprinted"

    clock.move_to(START + timedelta(hours=72, seconds=1))
    with pytest.raises(TransitionRefused) as refused:
        shipment_update_tracking(order_id=order.pk, tracking_number=tracking_number(3), actor=actor)
    assert refused.value.code == "tracking_edit_window_over"
    shipment.refresh_from_db()
    assert shipment.tracking_number == "TRK00000002"


def test_a_corrected_tracking_number_must_match_too(partner, seller, sku, carrier, actor, clock):
    order = make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=carrier, number=tracking_number(1)
    )
    with pytest.raises(InvalidInput) as refused:
        shipment_update_tracking(order_id=order.pk, tracking_number="1Z999AA10123456784", actor=actor)
    assert refused.value.code == "tracking_number_invalid"
    # The same values again change nothing and write nothing.
    shipment_update_tracking(order_id=order.pk, tracking_number=tracking_number(1), actor=actor)
    assert not ShipmentEvent.objects.filter(action="tracking_updated").exists()


def test_the_tracking_edit_window_is_a_setting(partner, seller, sku, carrier, actor, clock, settings):
    settings.TRACKING_EDIT_WINDOW = timedelta(hours=1)
    order = make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=carrier, number=tracking_number(1)
    )
    clock.move_to(START + timedelta(hours=1, seconds=1))
    with pytest.raises(TransitionRefused):
        shipment_update_tracking(order_id=order.pk, tracking_number=tracking_number(2), actor=actor)


def test_a_service_error_rolls_back_every_write(partner, seller, sku, carrier, actor, clock, monkeypatch):
    """Labelling is one transaction: if the order cannot move, the stock and the shipment stay as they were."""
    from fulfillment.services import shipments

    order = _packed(partner, seller, actor)

    def boom(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(shipments, "stock_consume_for_order", boom)
    with pytest.raises(RuntimeError), transaction.atomic():
        shipment_label(
            order_id=order.pk,
            carrier=carrier,
            tracking_number=tracking_number(1),
            handover_method="pickup",
            actor=actor,
        )
    order = order_of(order)
    assert (order.status, order.shipment.status, order.shipment.tracking_number) == (
        OrderStatus.IN_FULFILLMENT,
        ShipmentStatus.PACKED,
        "",
    )
    assert stock_of(sku) == (10, 1)
