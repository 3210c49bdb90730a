"""Returns through their services (R11): the three types' paths, the rules on what may be returned, the
48-hour auto-approval, order completion waiting for an open return (R15), and the partner's webhooks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.tests.factories import PartnerFactory, SellerFactory, SellerUserFactory
from backoffice.timers import process_due_timers
from core.actors import Actor
from core.errors import InvalidInput, NotFound, PermissionRefused, TransitionRefused
from fulfillment.models import Stock
from fulfillment.tests.factories import CarrierFactory, make_sku, tracking_number
from orders.models import OrderStatus
from orders.tests.factories import make_ready_order
from payments.models import PaymentOrder
from payments.services import refund_bank_transfer_record
from returns.models import ReturnEvent, ReturnRequest, ReturnStatus, ReturnType
from returns.services.returns import (
    ReturnLineInput,
    return_approve,
    return_close,
    return_create,
    return_inspect,
    return_receive,
    return_refund_decide,
    return_reject,
    return_reject_after_inspection,
    return_replace,
    return_shipment_update,
)
from returns.tests.conftest import subscribe
from returns.tests.return_support import (
    delivered_order,
    request_return,
    staff,
    to_inspected,
    to_received,
    warehouse,
)
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def carrier(db):
    return CarrierFactory(code="backpost", name="Back Post")


@pytest.fixture
def shelf(seller):
    """Two SKUs of ``seller`` with plenty of stock."""
    return make_sku(seller=seller, code="TSHIRT-M", on_hand=50), make_sku(
        seller=seller, code="CAP", on_hand=50, wholesale_cost=400
    )


@pytest.fixture
def delivered(partner, seller, shelf, carrier):
    return delivered_order(partner, seller, carrier, lines=[("TSHIRT-M", 3), ("CAP", 1)])


def _on_hand(sku) -> int:
    return Stock.objects.get(sku=sku).on_hand


def _actions(ret) -> list[tuple[str, str, str]]:
    return list(ReturnEvent.objects.filter(return_request=ret).values_list("action", "from_status", "to_status"))


# --- the three paths ------------------------------------------------------------------------------


def test_a_partial_return_and_refund_goes_all_the_way_and_restocks_only_resellable_units(
    delivered, shelf, carrier, partner
):
    tshirt, cap = shelf
    before = _on_hand(tshirt), _on_hand(cap)
    ret = request_return(delivered, type=ReturnType.RETURN_AND_REFUND, units={"TSHIRT-M": 2})
    assert (ret.status, ret.marketplace_status) == (ReturnStatus.REQUESTED, "RETURN_OR_REFUND_REQUEST_PENDING")
    assert ret.respond_by == ret.requested_at + timedelta(hours=48)
    assert [(line.order_line.sku_code, line.quantity) for line in ret.lines.all()] == [("TSHIRT-M", 2)]

    ret = return_approve(return_id=ret.pk, actor=staff("Support"), note="ok")
    assert (ret.status, ret.marketplace_status) == (ReturnStatus.AWAITING_RETURN_SHIPMENT, "AWAITING_BUYER_SHIP")
    ret = return_shipment_update(
        return_id=ret.pk, carrier="backpost", tracking_number="trk 0000 0042", actor=Actor.for_partner(partner)
    )
    assert (ret.status, ret.return_carrier, ret.return_tracking_number) == (
        ReturnStatus.IN_TRANSIT,
        carrier,
        "TRK00000042",
    )
    line = ret.lines.get()
    ret = return_receive(return_id=ret.pk, received={line.pk: 2}, actor=warehouse())
    assert ret.status == ReturnStatus.RECEIVED
    ret = return_inspect(return_id=ret.pk, results={line.pk: (1, 1)}, note="one torn", actor=warehouse())

    assert ret.status == ReturnStatus.INSPECTED
    assert (_on_hand(tshirt), _on_hand(cap)) == (before[0] + 1, before[1])  # the damaged one stays out
    line.refresh_from_db()
    assert (line.received_quantity, line.resellable_quantity, line.damaged_quantity) == (2, 1, 1)
    assert line.restocked_at is not None
    # Paid by bank transfer: the refund is owed by bank transfer, with its real amount once Finance sends it.
    ret = return_refund_decide(return_id=ret.pk, amount=2500, note="one torn", actor=staff("Finance"))
    assert (ret.status, ret.refund_amount) == (ReturnStatus.REFUNDED, 2500)
    assert (ret.refund.method, ret.refund.status, ret.refund.kind) == ("bank_transfer", "pending", "return")
    refund = refund_bank_transfer_record(refund_id=ret.refund.pk, reference="BT-9", amount=2400, actor=staff("Finance"))
    assert (refund.status, refund.amount, refund.reference) == ("succeeded", 2400, "BT-9")
    assert refund.payment.amount_refunded == 2400
    assert ret.marketplace_status == "RETURN_OR_REFUND_REQUEST_COMPLETE"
    ret = return_close(return_id=ret.pk, actor=staff("Support"))

    assert ret.status == ReturnStatus.CLOSED and ret.closed_at is not None
    assert _actions(ret) == [
        ("requested", "", ReturnStatus.REQUESTED),
        ("approve", ReturnStatus.REQUESTED, ReturnStatus.APPROVED),
        ("await_shipment", ReturnStatus.APPROVED, ReturnStatus.AWAITING_RETURN_SHIPMENT),
        ("mark_in_transit", ReturnStatus.AWAITING_RETURN_SHIPMENT, ReturnStatus.IN_TRANSIT),
        ("receive", ReturnStatus.IN_TRANSIT, ReturnStatus.RECEIVED),
        ("inspect", ReturnStatus.RECEIVED, ReturnStatus.INSPECTED),
        ("decide_refund", ReturnStatus.INSPECTED, ReturnStatus.REFUNDED),
        ("close", ReturnStatus.REFUNDED, ReturnStatus.CLOSED),
    ]
    order_actions = list(delivered.events.values_list("action", flat=True))
    assert order_actions[-6:] == [
        "return_requested",
        "return_approved",
        "return_received",
        "return_inspected",
        "return_refunded",
        "return_closed",
    ]


def test_a_refund_only_return_skips_the_parcel(delivered, partner):
    ret = request_return(delivered, type=ReturnType.REFUND_ONLY, units={"CAP": 1})
    ret = return_approve(return_id=ret.pk, actor=staff("Support"))

    assert (ret.status, ret.marketplace_status) == (ReturnStatus.APPROVED, "RETURN_OR_REFUND_REQUEST_SUCCESS")
    with pytest.raises(TransitionRefused) as no_parcel:
        return_shipment_update(
            return_id=ret.pk, carrier="backpost", tracking_number=tracking_number(7), actor=Actor.for_partner(partner)
        )
    assert no_parcel.value.code == "no_return_shipment"
    with pytest.raises(TransitionRefused):
        return_receive(return_id=ret.pk, received={ret.lines.get().pk: 1}, actor=warehouse())
    ret = return_refund_decide(return_id=ret.pk, amount=0, actor=staff("Finance"))
    assert ret.status == ReturnStatus.REFUNDED
    assert return_close(return_id=ret.pk, actor=staff("Support")).status == ReturnStatus.CLOSED


def test_a_replacement_creates_a_linked_order_in_the_warehouse_queue_at_no_charge(delivered, carrier, shelf):
    tshirt, _ = shelf
    ret = request_return(delivered, type=ReturnType.REPLACEMENT, units={"TSHIRT-M": 3})
    ret = to_inspected(ret, carrier, received={"TSHIRT-M": 2}, results={"TSHIRT-M": (0, 2)})
    with pytest.raises(TransitionRefused) as refused:
        return_refund_decide(return_id=ret.pk, amount=0, actor=staff("Finance"))
    assert refused.value.code == "replacement_return"
    reserved_before = Stock.objects.get(sku=tshirt).reserved

    ret = return_replace(return_id=ret.pk, actor=staff("Support"))

    new = ret.replacement_order
    assert (ret.status, ret.marketplace_status) == (ReturnStatus.REPLACED, "REPLACEMENT_REQUEST_COMPLETE")
    assert new.status == OrderStatus.READY_TO_FULFILL and not new.stock_exception
    assert new.external_id == f"{delivered.external_id}-R{ret.pk}"
    assert (new.partner_id, new.seller_id, new.buyer_name, new.ship_line1, new.ship_city) == (
        delivered.partner_id,
        delivered.seller_id,
        delivered.buyer_name,
        delivered.ship_line1,
        delivered.ship_city,
    )
    assert [(line.sku_code, line.quantity, line.unit_price) for line in new.lines.all()] == [("TSHIRT-M", 2, 0)]
    assert Stock.objects.get(sku=tshirt).reserved == reserved_before + 2
    assert new.ship_by == new.placed_at + timedelta(hours=72)
    assert new.seller_paid_at is not None and new.hold_until is None
    assert not PaymentOrder.objects.filter(order=new).exists()
    assert new.events.get().action == "replacement_created"
    assert new.replaces_return == ret
    # Replacing again does nothing more.
    assert return_replace(return_id=ret.pk, actor=staff("Support")).replacement_order_id == new.pk
    assert ReturnRequest.objects.filter(replacement_order__isnull=False).count() == 1


def test_nothing_received_cannot_be_replaced_and_is_rejected_after_inspection(delivered, carrier):
    ret = request_return(delivered, type=ReturnType.REPLACEMENT, units={"CAP": 1})
    ret = to_inspected(ret, carrier, received={"CAP": 0}, results={"CAP": (0, 0)})

    with pytest.raises(TransitionRefused) as refused:
        return_replace(return_id=ret.pk, actor=staff("Support"))
    assert refused.value.code == "nothing_to_replace"
    ret = return_reject_after_inspection(return_id=ret.pk, reason="the box was empty", actor=warehouse())
    assert (ret.status, ret.marketplace_status, ret.resolution_note) == (
        ReturnStatus.REJECTED_AFTER_INSPECTION,
        "REJECT_RECEIVE_PACKAGE",
        "the box was empty",
    )


def test_a_rejected_return_frees_its_units_and_cannot_be_approved(delivered):
    ret = request_return(delivered, type=ReturnType.RETURN_AND_REFUND, units={"TSHIRT-M": 3})
    with pytest.raises(InvalidInput) as no_reason:
        return_reject(return_id=ret.pk, reason="  ", actor=staff("Support"))
    assert no_reason.value.code == "reason_required"

    ret = return_reject(return_id=ret.pk, reason="outside policy", actor=staff("Support"))

    assert (ret.status, ret.marketplace_status) == (ReturnStatus.REJECTED, "RETURN_OR_REFUND_REQUEST_REJECT")
    with pytest.raises(TransitionRefused) as refused:
        return_approve(return_id=ret.pk, actor=staff("Support"))
    assert refused.value.code == "not_pending"
    assert (
        request_return(delivered, type=ReturnType.REFUND_ONLY, units={"TSHIRT-M": 3}).status == ReturnStatus.REQUESTED
    )


# --- what may be returned --------------------------------------------------------------------------


def test_a_repeated_request_with_the_same_external_id_returns_the_first(delivered):
    first = request_return(delivered, type=ReturnType.RETURN_AND_REFUND, units={"CAP": 1}, external_id="RMA-1")
    again, created = return_create(
        order_id=delivered.pk,
        type=ReturnType.REFUND_ONLY,
        reason="other",
        external_id="RMA-1",
        lines=[ReturnLineInput(sku="TSHIRT-M", quantity=1)],
        actor=Actor.for_partner(delivered.partner),
    )

    assert (again.pk, created) == (first.pk, False)
    assert ReturnRequest.objects.count() == 1
    assert ReturnEvent.objects.filter(action="requested").count() == 1


def test_units_beyond_what_was_ordered_and_not_yet_returned_are_refused(delivered):
    request_return(delivered, type=ReturnType.RETURN_AND_REFUND, units={"TSHIRT-M": 2})

    with pytest.raises(InvalidInput) as refused:
        request_return(delivered, type=ReturnType.RETURN_AND_REFUND, units={"CAP": 1, "TSHIRT-M": 2})
    assert refused.value.code == "quantity_exceeds_returnable"
    assert refused.value.errors == {
        "lines": [
            {},
            {"quantity": ["At most 1 unit(s) of TSHIRT-M can be returned (3 ordered, 2 already in other returns)."]},
        ]
    }
    assert ReturnRequest.objects.count() == 1
    assert request_return(delivered, type=ReturnType.RETURN_AND_REFUND, units={"TSHIRT-M": 1}).lines.get().quantity == 1


def test_lines_must_be_the_orders_and_each_given_once(delivered, partner, seller, carrier):
    other = delivered_order(partner, seller, carrier, lines=[("CAP", 1)])
    foreign_line = other.lines.get().pk

    with pytest.raises(InvalidInput) as refused:
        return_create(
            order_id=delivered.pk,
            type=ReturnType.REFUND_ONLY,
            reason="damaged",
            lines=[ReturnLineInput(sku="CAP", quantity=1), ReturnLineInput(line_id=foreign_line, quantity=1)],
            actor=Actor.for_partner(partner),
        )
    assert refused.value.code == "unknown_line"
    assert refused.value.errors == {"lines": [{}, {"line_id": [f"Order {delivered.pk} has no line {foreign_line}."]}]}
    tshirt = delivered.lines.get(sku_code="TSHIRT-M")
    with pytest.raises(InvalidInput) as twice:
        return_create(
            order_id=delivered.pk,
            type=ReturnType.REFUND_ONLY,
            reason="damaged",
            actor=Actor.for_partner(partner),
            lines=[ReturnLineInput(sku="TSHIRT-M", quantity=1), ReturnLineInput(line_id=tshirt.pk, quantity=1)],
        )
    assert twice.value.code == "duplicate_line"
    assert not ReturnRequest.objects.exists()


def test_only_a_delivered_order_within_its_return_window_can_be_returned(partner, seller, shelf, carrier):
    ready = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    with pytest.raises(TransitionRefused) as not_delivered:
        request_return(ready, type=ReturnType.REFUND_ONLY)
    assert not_delivered.value.code == "not_delivered"

    delivered = delivered_order(partner, seller, carrier, lines=[("TSHIRT-M", 1)])
    with time_machine.travel(delivered.return_window_ends_at + timedelta(seconds=1)):
        with pytest.raises(TransitionRefused) as closed:
            request_return(delivered, type=ReturnType.REFUND_ONLY)
    assert closed.value.code == "return_window_closed"
    assert not ReturnRequest.objects.exists()


# --- who may act ---------------------------------------------------------------------------------------


def test_only_the_orders_partner_staff_with_the_right_group_and_the_seller_may_act(delivered, carrier):
    stranger = PartnerFactory(name="Someone else", sellers=[delivered.seller])
    with pytest.raises(NotFound):
        request_return(delivered, type=ReturnType.REFUND_ONLY, actor=Actor.for_partner(stranger))
    ret = request_return(delivered, type=ReturnType.RETURN_AND_REFUND, units={"CAP": 1})
    with pytest.raises(PermissionRefused):
        return_approve(return_id=ret.pk, actor=warehouse())
    with pytest.raises(PermissionRefused):
        return_approve(return_id=ret.pk, actor=Actor.for_partner(delivered.partner))
    other_seller = SellerUserFactory(seller=SellerFactory(code="OTHER"))
    with pytest.raises(PermissionRefused):
        return_approve(return_id=ret.pk, actor=Actor.for_user(other_seller))
    own = SellerUserFactory(seller=delivered.seller)
    assert return_approve(return_id=ret.pk, actor=Actor.for_user(own)).status == ReturnStatus.AWAITING_RETURN_SHIPMENT
    line = ret.lines.get()
    with pytest.raises(PermissionRefused):
        return_receive(return_id=ret.pk, received={line.pk: 1}, actor=staff("Support"))
    to_received_ret = return_receive(return_id=ret.pk, received={line.pk: 1}, actor=warehouse())
    assert to_received_ret.status == ReturnStatus.RECEIVED
    with pytest.raises(PermissionRefused):
        return_refund_decide(return_id=ret.pk, amount=0, actor=warehouse())


def test_receiving_and_inspecting_check_every_line(delivered, carrier):
    ret = request_return(delivered, type=ReturnType.RETURN_AND_REFUND, units={"TSHIRT-M": 2, "CAP": 1})
    return_approve(return_id=ret.pk, actor=staff("Support"))
    tshirt, cap = ret.lines.order_by("pk")

    with pytest.raises(InvalidInput) as over:
        return_receive(return_id=ret.pk, received={tshirt.pk: 3, cap.pk: 1}, actor=warehouse())
    assert over.value.code == "received_exceeds_quantity"
    with pytest.raises(InvalidInput) as missing:
        return_receive(return_id=ret.pk, received={tshirt.pk: 2}, actor=warehouse())
    assert missing.value.code == "line_missing"
    # A parcel may arrive before the partner reported it sent.
    return_receive(return_id=ret.pk, received={tshirt.pk: 2, cap.pk: 1}, actor=warehouse())
    assert (
        return_receive(return_id=ret.pk, received={tshirt.pk: 2, cap.pk: 1}, actor=warehouse()).status
        == ReturnStatus.RECEIVED
    )
    with pytest.raises(TransitionRefused) as again:
        return_receive(return_id=ret.pk, received={tshirt.pk: 1, cap.pk: 1}, actor=warehouse())
    assert again.value.code == "already_received"
    with pytest.raises(InvalidInput) as mismatch:
        return_inspect(return_id=ret.pk, results={tshirt.pk: (1, 0), cap.pk: (1, 0)}, actor=warehouse())
    assert mismatch.value.code == "inspection_mismatch"
    assert ReturnRequest.objects.get(pk=ret.pk).status == ReturnStatus.RECEIVED


# --- auto-approval at 48h (R11) ---------------------------------------------------------------------------


def test_an_unanswered_return_is_approved_at_48h_and_not_a_minute_before(partner, seller, shelf, carrier):
    with time_machine.travel(START, tick=False) as clock:
        delivered = delivered_order(partner, seller, carrier, lines=[("TSHIRT-M", 1)])
        ret = request_return(delivered, type=ReturnType.RETURN_AND_REFUND)

        clock.move_to(START + timedelta(hours=47, minutes=59))
        assert process_due_timers()["returns_auto_approved"] == 0
        ret.refresh_from_db()
        assert ret.status == ReturnStatus.REQUESTED

        clock.move_to(START + timedelta(hours=48, minutes=1))
        with pytest.raises(TransitionRefused) as late:
            return_reject(return_id=ret.pk, reason="too late", actor=staff("Support"))
        assert late.value.code == "response_window_over"
        assert process_due_timers()["returns_auto_approved"] == 1

        ret.refresh_from_db()
        assert (ret.status, ret.decided_by) == (ReturnStatus.AWAITING_RETURN_SHIPMENT, "system:timer")
        assert _actions(ret)[1:] == [
            ("auto_approve", ReturnStatus.REQUESTED, ReturnStatus.AUTO_APPROVED),
            ("await_shipment", ReturnStatus.AUTO_APPROVED, ReturnStatus.AWAITING_RETURN_SHIPMENT),
        ]
        assert process_due_timers()["returns_auto_approved"] == 0


# --- completion waits for open returns (R15) ---------------------------------------------------------------


def test_a_delivered_order_completes_only_once_its_returns_are_no_longer_open(partner, seller, shelf, carrier):
    with time_machine.travel(START, tick=False) as clock:
        delivered = delivered_order(partner, seller, carrier, lines=[("TSHIRT-M", 2)])
        clock.move_to(START + timedelta(days=1))
        ret = request_return(delivered, type=ReturnType.RETURN_AND_REFUND, units={"TSHIRT-M": 1})

        clock.move_to(START + timedelta(days=8))
        counts = process_due_timers()
        assert (counts["orders_completed"], counts["returns_auto_approved"]) == (0, 1)
        delivered.refresh_from_db()
        assert (delivered.status, delivered.timer_error) == (OrderStatus.DELIVERED, "")
        assert process_due_timers()["orders_completed"] == 0  # checked again every pass, quietly

        with pytest.raises(InvalidInput):
            return_close(return_id=ret.pk, actor=staff("Support"))  # before the parcel: say why
        return_close(return_id=ret.pk, note="buyer never shipped it", actor=staff("Support"))
        assert process_due_timers()["orders_completed"] == 1
        delivered.refresh_from_db()
        assert delivered.status == OrderStatus.COMPLETED


# --- partner webhooks ------------------------------------------------------------------------------------------


def test_every_change_writes_a_return_status_changed_webhook(delivered, carrier, partner):
    subscribe(partner)
    ret = request_return(delivered, type=ReturnType.RETURN_AND_REFUND, units={"TSHIRT-M": 1}, external_id="RMA-7")
    to_received(ret, carrier)

    events = WebhookEvent.objects.filter(type="return.status_changed").order_by("pk")
    rows = [(e.data["from"], e.data["status"], e.data["marketplace_status"]) for e in events]
    assert rows == [
        (None, ReturnStatus.REQUESTED, "RETURN_OR_REFUND_REQUEST_PENDING"),
        (ReturnStatus.REQUESTED, ReturnStatus.APPROVED, "RETURN_OR_REFUND_REQUEST_SUCCESS"),
        (ReturnStatus.APPROVED, ReturnStatus.AWAITING_RETURN_SHIPMENT, "AWAITING_BUYER_SHIP"),
        (ReturnStatus.AWAITING_RETURN_SHIPMENT, ReturnStatus.IN_TRANSIT, "BUYER_SHIPPED_ITEM"),
        (ReturnStatus.IN_TRANSIT, ReturnStatus.RECEIVED, "RECEIVE_REJECTED_PENDING"),
    ]
    first = events.first()
    assert (first.order_id, first.partner_id) == (delivered.pk, partner.pk)
    assert first.data["return_id"] == ret.pk and first.data["return_external_id"] == "RMA-7"
    assert first.data["lines"] == [
        {"order_line_id": delivered.lines.get(sku_code="TSHIRT-M").pk, "sku": "TSHIRT-M", "quantity": 1}
    ]
    assert events.last().data["return_shipment"]["carrier"] == "backpost"


def test_the_time_of_the_check_is_now_so_a_future_shipping_time_is_refused(delivered, partner):
    ret = request_return(delivered, type=ReturnType.RETURN_AND_REFUND, units={"CAP": 1})
    return_approve(return_id=ret.pk, actor=staff("Support"))
    with pytest.raises(InvalidInput) as future:
        return_shipment_update(
            return_id=ret.pk,
            carrier="backpost",
            tracking_number=tracking_number(9),
            actor=Actor.for_partner(partner),
            shipped_at=timezone.now() + timedelta(hours=1),
        )
    assert future.value.code == "in_future"
    with pytest.raises(InvalidInput) as bad:
        return_shipment_update(
            return_id=ret.pk, carrier="backpost", tracking_number="XYZ", actor=Actor.for_partner(partner)
        )
    assert bad.value.code == "tracking_number_invalid"
