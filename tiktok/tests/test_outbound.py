"""Our decisions reach TikTok, exactly once, through the outbox (R17), checked against the emulator.

Every call goes to the emulator, which checks each request's signature and
token as TikTok does; ``GET /_emulator/calls`` lists what it answered.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from backoffice.timers import process_due_timers
from core.errors import TransitionRefused
from fulfillment.models import ShipmentStatus
from fulfillment.services import (
    shipment_hand_over,
    shipment_label,
    shipment_pack,
    shipment_record_carrier_event,
    shipment_start_picking,
    shipment_update_tracking,
)
from fulfillment.tests.factories import CarrierFactory
from orders.models import Order, OrderStatus
from orders.services import order_cancel
from payments.services.bank import bank_transfer_record
from returns.models import CancellationRequest, CancellationStatus, ReturnRequest
from returns.selectors import return_refund_share
from returns.services.cancellations import cancellation_request_approve, cancellation_request_reject
from returns.services.returns import return_approve, return_inspect, return_receive, return_refund_decide
from tiktok.models import CallOperation, CallStatus, TikTokCall
from tiktok.services import outbox
from tiktok.services.reasons import shop_reject_reasons
from tiktok.timers import process_due_tiktok

pytestmark = pytest.mark.django_db

UPS_PROVIDER = "7117858858072016686"


def calls(tiktok, path: str) -> list[dict]:
    return tiktok.control(f"calls?path={path}", method="GET")["calls"]


def packed_tiktok_order(tiktok, shop, client, capture, staff, *, lines=None) -> tuple[Order, dict]:
    """A TikTok order awaiting shipment, taken in by its webhook, paid by the seller, picked and packed."""
    tt = tiktok.order(shop.tiktok_id, status="AWAITING_SHIPMENT", lines=lines)
    tiktok.deliver(client, capture=capture)
    order = Order.objects.get(external_id=tt["id"])
    bank_transfer_record(order_id=order.pk, reference=f"BANK-{order.pk}", actor=staff)
    shipment_start_picking(order_id=order.pk, actor=staff)
    shipment_pack(order_id=order.pk, actor=staff)
    return order, tt


class Clocks:
    """Our clock and the emulator's, moved together (TikTok refuses requests signed too far from its time).
    ``at(offset)`` is ``offset`` after the test's start, on both."""

    def __init__(self, tiktok):
        self.tiktok, self.start, self.moved = tiktok, timezone.now(), timedelta(0)

    def at(self, offset: timedelta):
        self.tiktok.control("clock", {"advance": (offset - self.moved).total_seconds()})
        self.moved = offset
        return time_machine.travel(self.start + offset, tick=True)


def move_clocks(tiktok, delta: timedelta):
    return Clocks(tiktok).at(delta)


class WorkerKilled(BaseException):
    """What a worker dying looks like from inside: nothing after it runs, no handler catches it."""


def test_a_label_ships_the_tiktok_package_with_its_tracking_and_the_order_waits_for_tiktok(
    tiktok, shop, client, django_capture_on_commit_callbacks, staff, carrier
):
    order, tt = packed_tiktok_order(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    with django_capture_on_commit_callbacks() as callbacks:
        shipment = shipment_label(
            order_id=order.pk, carrier="trk", tracking_number="TRK00000001", handover_method="pickup", actor=staff
        )
        # Before the call: the parcel is packed, the order not shipped, the label waits for TikTok.
    order.refresh_from_db()
    assert order.status == OrderStatus.IN_FULFILLMENT
    assert shipment.status == ShipmentStatus.PACKED and shipment.label_requested["tracking_number"] == "TRK00000001"
    call = TikTokCall.objects.get(order=order)
    assert (call.operation, call.status) == (CallOperation.SHIP_PACKAGE, CallStatus.PENDING)

    for callback in callbacks:
        callback()
    call.refresh_from_db()
    order.refresh_from_db()
    assert call.status == CallStatus.SUCCEEDED and call.attempts == 1
    assert order.status == OrderStatus.SHIPPED
    (ship,) = calls(tiktok, "/fulfillment/202309/packages/")
    assert ship["body"] == {
        "handover_method": "PICKUP",
        "self_shipment": {"tracking_number": "TRK00000001", "shipping_provider_id": UPS_PROVIDER},
    }
    detail = tiktok.control(f"orders/{tt['id']}", method="GET")
    assert (detail["status"], detail["tracking_number"]) == ("AWAITING_COLLECTION", "TRK00000001")


def test_a_worker_killed_between_the_call_and_recording_it_ships_once(
    tiktok, shop, client, django_capture_on_commit_callbacks, staff, carrier, monkeypatch
):
    order, tt = packed_tiktok_order(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    real = outbox.call_record_answer

    def die(**kwargs):
        raise WorkerKilled

    monkeypatch.setattr(outbox, "call_record_answer", die)
    with pytest.raises(WorkerKilled), django_capture_on_commit_callbacks(execute=True):
        shipment_label(
            order_id=order.pk, carrier="trk", tracking_number="TRK00000002", handover_method="dropoff", actor=staff
        )
    call = TikTokCall.objects.get(order=order)
    assert call.status == CallStatus.SENDING  # TikTok shipped it; we never heard
    order.refresh_from_db()
    assert order.status == OrderStatus.IN_FULFILLMENT
    monkeypatch.setattr(outbox, "call_record_answer", real)

    # Nothing happens before the lease runs out ...
    with django_capture_on_commit_callbacks(execute=True):
        assert process_due_tiktok(now=timezone.now())["tiktok_calls_requeued"] == 0
    # ... then the timer sends it again: the package is read back, found shipped, and not shipped twice.
    with move_clocks(tiktok, timedelta(minutes=3)), django_capture_on_commit_callbacks(execute=True):
        assert process_due_tiktok(now=timezone.now())["tiktok_calls_requeued"] == 1
    call.refresh_from_db()
    order.refresh_from_db()
    assert (call.status, call.attempts, call.result["read_back"]) == (CallStatus.SUCCEEDED, 2, True)
    assert order.status == OrderStatus.SHIPPED and order.shipment.tracking_number == "TRK00000002"
    ships = [c for c in calls(tiktok, "/fulfillment/202309/packages/") if c["method"] == "POST"]
    assert len(ships) == 1
    package = tiktok.control(f"packages/{tt['packages'][0]['id']}", method="GET")
    assert (package["ship_calls"], package["tracking_number"]) == (1, "TRK00000002")


def test_a_tracking_number_tiktok_refuses_leaves_the_parcel_packed_with_the_reason(
    tiktok, shop, client, django_capture_on_commit_callbacks, staff, carrier
):
    carrier.tracking_pattern = r"^[A-Z0-9]{3,40}$"
    carrier.save()
    order, _ = packed_tiktok_order(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    with django_capture_on_commit_callbacks(execute=True):
        shipment_label(
            order_id=order.pk, carrier="trk", tracking_number="REFUSE1234", handover_method="pickup", actor=staff
        )
    order.refresh_from_db()
    call = TikTokCall.objects.get(order=order)
    assert (call.status, call.error_code) == (CallStatus.REJECTED, 21011019)
    assert order.status == OrderStatus.IN_FULFILLMENT
    shipment = order.shipment
    assert shipment.status == ShipmentStatus.PACKED and shipment.label_requested is None
    assert "TikTok refused it" in shipment.marketplace_note and "21011019" in shipment.marketplace_note
    # The warehouse labels it again with a good number.
    with django_capture_on_commit_callbacks(execute=True):
        shipment_label(
            order_id=order.pk, carrier="trk", tracking_number="TRK00000003", handover_method="pickup", actor=staff
        )
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED


def test_a_package_tiktok_split_cannot_be_labelled(
    tiktok, shop, client, django_capture_on_commit_callbacks, staff, carrier
):
    order, tt = packed_tiktok_order(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    tiktok.control(f"orders/{tt['id']}/split", {"notify": False})
    # The next order status event brings the new packages.
    tiktok.control(f"orders/{tt['id']}/address", {"address": {"line1": "2 Main St", "city": "Austin", "country": "US"}})
    tiktok.deliver(client, capture=django_capture_on_commit_callbacks)
    with pytest.raises(TransitionRefused) as refused:
        shipment_label(
            order_id=order.pk, carrier="trk", tracking_number="TRK00000004", handover_method="pickup", actor=staff
        )
    assert refused.value.code == "package_split"
    assert not TikTokCall.objects.filter(order=order).exists()


def test_a_carrier_without_a_tiktok_provider_is_refused_locally(
    tiktok, shop, client, django_capture_on_commit_callbacks, staff
):
    CarrierFactory(code="nomap", name="Unmapped carrier")
    order, _ = packed_tiktok_order(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    with pytest.raises(TransitionRefused) as refused:
        shipment_label(
            order_id=order.pk, carrier="nomap", tracking_number="TRK00000005", handover_method="pickup", actor=staff
        )
    assert refused.value.code == "no_tiktok_provider"


def test_a_tracking_edit_within_72_hours_is_sent_and_after_is_refused_locally(
    tiktok, shop, client, django_capture_on_commit_callbacks, staff, carrier
):
    order, tt = packed_tiktok_order(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    with django_capture_on_commit_callbacks(execute=True):
        shipment_label(
            order_id=order.pk, carrier="trk", tracking_number="TRK00000006", handover_method="pickup", actor=staff
        )
    with move_clocks(tiktok, timedelta(hours=71)), django_capture_on_commit_callbacks(execute=True):
        shipment_update_tracking(order_id=order.pk, tracking_number="TRK00000007", reason="typo", actor=staff)
    call = TikTokCall.objects.get(order=order, operation=CallOperation.UPDATE_SHIPPING_INFO)
    assert call.status == CallStatus.SUCCEEDED
    (update,) = calls(tiktok, f"/fulfillment/202309/orders/{tt['id']}/shipping_info/update")
    assert update["body"] == {"tracking_number": "TRK00000007", "shipping_provider_id": UPS_PROVIDER}
    assert tiktok.control(f"orders/{tt['id']}", method="GET")["tracking_number"] == "TRK00000007"

    with move_clocks(tiktok, timedelta(hours=73)), pytest.raises(TransitionRefused) as refused:
        shipment_update_tracking(order_id=order.pk, tracking_number="TRK00000008", actor=staff)
    assert refused.value.code == "tracking_edit_window_over"
    assert TikTokCall.objects.filter(operation=CallOperation.UPDATE_SHIPPING_INFO).count() == 1


def test_rate_limited_twice_then_sent_with_the_backoff_respected(
    tiktok, shop, client, django_capture_on_commit_callbacks, staff, carrier
):
    order, tt = packed_tiktok_order(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    clocks = Clocks(tiktok)
    ship_path = f"/fulfillment/202309/packages/{tt['packages'][0]['id']}/ship"
    tiktok.control("failures", {"path": ship_path, "http_status": 429, "times": 2})
    with django_capture_on_commit_callbacks(execute=True):
        shipment_label(
            order_id=order.pk, carrier="trk", tracking_number="TRK00000009", handover_method="pickup", actor=staff
        )
    call = TikTokCall.objects.get(order=order)
    first_failure = call.last_attempt_at
    assert (call.status, call.attempts) == (CallStatus.FAILED, 1)
    assert call.next_attempt_at - first_failure == pytest.approx(timedelta(minutes=1), abs=timedelta(seconds=2))

    # 30 seconds later nothing is due; at a minute it is sent again and rate limited again: 5 minutes.
    with clocks.at(timedelta(seconds=30)), django_capture_on_commit_callbacks(execute=True):
        assert process_due_tiktok(now=timezone.now())["tiktok_calls_requeued"] == 0
    with clocks.at(timedelta(seconds=65)), django_capture_on_commit_callbacks(execute=True):
        process_due_tiktok(now=timezone.now())
    call.refresh_from_db()
    assert (call.status, call.attempts) == (CallStatus.FAILED, 2)
    assert call.next_attempt_at - call.last_attempt_at == pytest.approx(timedelta(minutes=5), abs=timedelta(seconds=2))
    with clocks.at(timedelta(minutes=7)), django_capture_on_commit_callbacks(execute=True):
        process_due_tiktok(now=timezone.now())
    call.refresh_from_db()
    order.refresh_from_db()
    assert (call.status, call.attempts) == (CallStatus.SUCCEEDED, 3)
    assert [a.outcome for a in call.attempt_rows.all()] == ["failed", "failed", "succeeded"]
    assert [a.http_status for a in call.attempt_rows.all()] == [429, 429, 200]
    assert order.status == OrderStatus.SHIPPED
    assert [c["http_status"] for c in calls(tiktok, ship_path)] == [429, 429, 200]
    # Before each attempt after the first, TikTok's package was read back (not shipped yet, so it was sent).
    reads = [c for c in calls(tiktok, "/fulfillment/202309/packages/") if c["method"] == "GET"]
    assert len(reads) == 2


def test_a_call_that_keeps_failing_is_parked_after_the_last_backoff(
    tiktok, shop, client, django_capture_on_commit_callbacks, staff, carrier, settings
):
    settings.TIKTOK_CALL_BACKOFF = [timedelta(minutes=1), timedelta(minutes=5)]
    order, _ = packed_tiktok_order(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    tiktok.control("failures", {"path": "/fulfillment/202309/packages/", "http_status": 503, "code": 0, "times": 3})
    with django_capture_on_commit_callbacks(execute=True):
        shipment_label(
            order_id=order.pk, carrier="trk", tracking_number="TRK00000010", handover_method="pickup", actor=staff
        )
    clocks = Clocks(tiktok)
    for minutes in (2, 8):
        with clocks.at(timedelta(minutes=minutes)), django_capture_on_commit_callbacks(execute=True):
            process_due_tiktok(now=timezone.now())
    call = TikTokCall.objects.get(order=order)
    assert (call.status, call.attempts, call.next_attempt_at) == (CallStatus.PARKED, 3, None)
    order.refresh_from_db()
    assert order.status == OrderStatus.IN_FULFILLMENT
    assert "could not be reached" in order.shipment.marketplace_note
    # Staff send it again once TikTok is back: the order is shipped.
    with clocks.at(timedelta(minutes=9)), django_capture_on_commit_callbacks(execute=True):
        outbox.call_retry(call_id=call.pk, actor=staff)
    call.refresh_from_db()
    order.refresh_from_db()
    assert (call.status, call.attempts) == (CallStatus.SUCCEEDED, 4)
    assert order.status == OrderStatus.SHIPPED


def _pending_request(tiktok, shop, client, capture, staff):
    order, tt = packed_tiktok_order(tiktok, shop, client, capture, staff)
    cancellation = tiktok.control(f"orders/{tt['id']}/cancellations", {"reason": "Changed my mind"})
    tiktok.deliver(client, capture=capture)
    request = CancellationRequest.objects.get(order=order)
    assert request.status == CancellationStatus.PENDING and request.marketplace_decides
    return order, request, cancellation


def test_approving_a_cancellation_request_calls_tiktok_approve_with_an_idempotency_key(
    tiktok, shop, client, django_capture_on_commit_callbacks, staff
):
    order, request, cancellation = _pending_request(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    with django_capture_on_commit_callbacks(execute=True):
        cancellation_request_approve(request_id=request.pk, actor=staff, note="ok")
    call = TikTokCall.objects.get(operation=CallOperation.CANCELLATION_APPROVE)
    assert call.status == CallStatus.SUCCEEDED
    (approve,) = calls(tiktok, f"/return_refund/202309/cancellations/{cancellation['cancel_id']}/approve")
    assert approve["query"]["idempotency_key"] == call.idempotency_key
    state = tiktok.control(f"cancellations/{cancellation['cancel_id']}", method="GET")
    assert state["cancel_status"] == "CANCELLATION_REQUEST_COMPLETE"
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    # Sending the same call again (a worker retrying it) changes nothing on TikTok.
    TikTokCall.objects.filter(pk=call.pk).update(status=CallStatus.PENDING)
    outbox.call_send(call.pk)
    assert TikTokCall.objects.get(pk=call.pk).status == CallStatus.SUCCEEDED


def test_rejecting_a_cancellation_request_sends_one_of_tiktoks_reasons(
    tiktok, shop, client, django_capture_on_commit_callbacks, staff
):
    order, request, cancellation = _pending_request(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    reasons = shop_reject_reasons(shop_id=shop.pk, kind="CANCEL")
    assert "The product has been packed" in [r["text"] for r in reasons]
    with pytest.raises(Exception) as refused:
        cancellation_request_reject(request_id=request.pk, actor=staff, reason="because")
    assert getattr(refused.value, "code", "") == "invalid_reject_reason"
    with django_capture_on_commit_callbacks(execute=True):
        cancellation_request_reject(request_id=request.pk, actor=staff, reason="The product has been packed")
    (reject,) = calls(tiktok, f"/return_refund/202309/cancellations/{cancellation['cancel_id']}/reject")
    assert reject["body"] == {
        "reject_reason": "seller_reject_apply_product_has_been_packed",
        "comment": "The product has been packed",
    }
    assert reject["query"]["idempotency_key"]
    state = tiktok.control(f"cancellations/{cancellation['cancel_id']}", method="GET")
    assert state["cancel_status"] == "CANCELLATION_REQUEST_CANCEL"


def test_an_approval_after_tiktoks_deadline_is_refused_by_tiktok_and_shown_to_staff(
    tiktok, shop, client, django_capture_on_commit_callbacks, staff, admin_client
):
    order, request, cancellation = _pending_request(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    with move_clocks(tiktok, timedelta(hours=49)), django_capture_on_commit_callbacks(execute=True):
        # Our timer no longer approves TikTok's requests: TikTok does, at its deadline.
        process_due_timers()
        request.refresh_from_db()
        assert request.status == CancellationStatus.PENDING
        cancellation_request_approve(request_id=request.pk, actor=staff)
    call = TikTokCall.objects.get(operation=CallOperation.CANCELLATION_APPROVE)
    assert (call.status, call.error_code) == (CallStatus.REJECTED, 25001004)
    assert "expired" in call.error
    page = admin_client.get("/admin/tiktok/tiktokcall/?status__exact=rejected").content.decode()
    assert "expired" in page and "25001004" in page


def test_a_seller_cancellation_waits_for_tiktok_then_cancels_our_order(
    tiktok, shop, client, django_capture_on_commit_callbacks, staff
):
    order, tt = packed_tiktok_order(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    with django_capture_on_commit_callbacks() as callbacks:
        order_cancel(order_id=order.pk, by="staff", reason="Out of stock", actor=staff)
    order.refresh_from_db()
    assert order.status == OrderStatus.IN_FULFILLMENT  # not before TikTok confirms
    for callback in callbacks:
        callback()
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED and order.cancelled_by == "staff"
    (cancel,) = calls(tiktok, "/return_refund/202309/cancellations")
    assert cancel["body"] == {"order_id": tt["id"], "cancel_reason": "Out of stock"}
    assert tiktok.control(f"orders/{tt['id']}", method="GET")["status"] == "CANCELLED"


def test_a_return_approved_then_partly_refunded_reaches_tiktok_as_its_decisions(
    tiktok, shop, client, django_capture_on_commit_callbacks, staff, carrier
):
    order, tt = packed_tiktok_order(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    with django_capture_on_commit_callbacks(execute=True):
        shipment_label(
            order_id=order.pk, carrier="trk", tracking_number="TRK00000011", handover_method="pickup", actor=staff
        )
    shipment_hand_over(order_id=order.pk, actor=staff)
    shipment_record_carrier_event(order_id=order.pk, type="delivered", at=timezone.now(), actor=staff)
    tiktok.control(f"orders/{tt['id']}/status", {"status": "DELIVERED", "notify": False})
    tt_return = tiktok.control(f"orders/{tt['id']}/returns", {"type": "RETURN_AND_REFUND", "skus": ["TSHIRT-M"]})
    tiktok.deliver(client, capture=django_capture_on_commit_callbacks)
    ret = ReturnRequest.objects.get(order=order)

    with django_capture_on_commit_callbacks(execute=True):
        return_approve(return_id=ret.pk, actor=staff)
    line = ret.lines.get()
    return_receive(return_id=ret.pk, received={line.pk: 1}, actor=staff)
    return_inspect(return_id=ret.pk, results={line.pk: (1, 0)}, actor=staff)
    full = return_refund_share(ReturnRequest.objects.get(pk=ret.pk)).refundable
    with django_capture_on_commit_callbacks(execute=True):
        return_refund_decide(return_id=ret.pk, amount=full // 2, actor=staff)

    decisions = calls(tiktok, f"/return_refund/202309/returns/{tt_return['return_id']}/")
    assert [(c["path"].rsplit("/", 1)[1], c["http_status"]) for c in decisions] == [("approve", 200), ("approve", 200)]
    assert decisions[0]["body"] == {"decision": "APPROVE_RETURN"}
    offer = 1450 * (full // 2) // full  # the buyer paid 14.50 for the returned unit; the same share of it
    assert decisions[1]["body"] == {
        "decision": "OFFER_PARTIAL_REFUND",
        "partial_refund": {"amount": f"{offer / 100:.2f}", "currency": "USD"},
    }
    assert all(c["query"]["idempotency_key"] for c in decisions)
    state = tiktok.control(f"returns/{tt_return['return_id']}", method="GET")
    assert state["decisions"] == ["APPROVE_RETURN", "OFFER_PARTIAL_REFUND"]
    assert state["partial_refund"] == {"amount": f"{offer / 100:.2f}", "currency": "USD"}
    assert TikTokCall.objects.filter(operation=CallOperation.RETURN_DECIDE, status=CallStatus.SUCCEEDED).count() == 2
