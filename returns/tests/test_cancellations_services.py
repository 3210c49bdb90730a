"""Cancellation requests after the hold (R5): the request's life, its guards, and what it does to the order."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.tests.factories import PartnerFactory, SellerFactory, SellerUserFactory, UserFactory
from core.actors import Actor
from core.errors import InvalidInput, NotFound, PermissionRefused, TransitionRefused
from fulfillment.models import ShipmentStatus, Stock
from orders.models import OrderEvent, OrderStatus
from orders.services import order_cancel
from orders.tests.factories import make_order
from returns.models import CancellationRequest, CancellationRequestEvent, CancellationStatus
from returns.services.cancellations import (
    cancellation_request_approve,
    cancellation_request_create,
    cancellation_request_reject,
    cancellation_request_withdraw,
)
from returns.tests.conftest import label, past_hold, picking, subscribe
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def buyer(partner):
    """The partner relaying the buyer's side."""
    return Actor.for_partner(partner)


@pytest.fixture
def clerk(seller):
    return Actor.for_user(SellerUserFactory(username="acme-clerk", seller=seller))


def _reserved(sku) -> int:
    return Stock.objects.get(sku=sku).reserved


def _ask(order, actor, **kwargs):
    request, created = cancellation_request_create(order_id=order.pk, actor=actor, **kwargs)
    assert created
    return request


# --- creating -----------------------------------------------------------------------------------


def test_a_request_waits_48_hours_and_is_audited_and_sent_to_the_partner(partner, seller, sku, buyer):
    subscribe(partner)
    order = past_hold(partner, seller)
    now = timezone.now()

    request = _ask(order, buyer, reason="found it cheaper", external_id="CR-1")

    assert request.status == CancellationStatus.PENDING
    assert now <= request.requested_at <= timezone.now()
    assert request.respond_by == request.requested_at + timedelta(hours=48)
    assert (request.seller, request.requested_by, request.reason) == (seller, "buyer", "found it cheaper")
    event = request.events.get()
    assert (event.action, event.from_status, event.to_status, event.actor) == (
        "requested",
        "",
        "pending",
        "partner:Connector A",
    )
    assert order.events.filter(action="cancellation_requested", note="found it cheaper").exists()
    hook = WebhookEvent.objects.get(type="cancellation.status_changed")
    assert hook.order_id == order.pk
    assert hook.data["status"] == "pending" and hook.data["from"] is None
    assert hook.data["marketplace_status"] == "CANCELLATION_REQUEST_PENDING"
    assert hook.data["cancellation_id"] == request.pk and hook.data["cancellation_external_id"] == "CR-1"
    assert hook.data["order_status"] == "awaiting_checkout"
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_CHECKOUT  # nothing happens to the order until someone answers
    assert _reserved(sku) == 2


def test_a_repeated_request_is_the_same_request(partner, seller, sku, buyer):
    order = past_hold(partner, seller)
    first = _ask(order, buyer, reason="late", external_id="CR-1")

    again, created = cancellation_request_create(order_id=order.pk, actor=buyer, reason="late", external_id="CR-1")
    other_id, created_other = cancellation_request_create(order_id=order.pk, actor=buyer, external_id="CR-2")
    no_id, created_no_id = cancellation_request_create(order_id=order.pk, actor=buyer)

    assert (again.pk, other_id.pk, no_id.pk) == (first.pk,) * 3
    assert not (created or created_other or created_no_id)
    assert CancellationRequest.objects.count() == 1
    assert CancellationRequestEvent.objects.count() == 1

    # Once answered, the same external id still finds it; a new one is a new request.
    cancellation_request_reject(request_id=first.pk, actor=Actor.system("test"), reason="already packed")
    repeat, created = cancellation_request_create(order_id=order.pk, actor=buyer, external_id="CR-1")
    assert (repeat.pk, repeat.status, created) == (first.pk, CancellationStatus.REJECTED, False)
    second, created = cancellation_request_create(order_id=order.pk, actor=buyer, external_id="CR-3")
    assert created and second.pk != first.pk and second.status == CancellationStatus.PENDING


def test_requests_are_only_for_orders_past_the_hold_and_not_shipped(partner, seller, sku, buyer, carrier):
    held = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], paid_at=timezone.now())
    with pytest.raises(TransitionRefused) as err:
        cancellation_request_create(order_id=held.pk, actor=buyer)
    assert err.value.code == "approval_not_needed"

    shipped = label(picking(partner, seller, lines=[("TSHIRT-M", 1)]), carrier)
    with pytest.raises(TransitionRefused) as err:
        cancellation_request_create(order_id=shipped.pk, actor=buyer)
    assert err.value.code == "already_shipped"

    cancelled = past_hold(partner, seller, lines=[("TSHIRT-M", 1)])
    order_cancel(order_id=cancelled.pk, by="seller", reason="damaged", actor=buyer)
    with pytest.raises(TransitionRefused) as err:
        cancellation_request_create(order_id=cancelled.pk, actor=buyer)
    assert err.value.code == "already_cancelled"
    assert not CancellationRequest.objects.exists()


def test_only_the_orders_own_partner_may_ask(partner, seller, sku):
    order = past_hold(partner, seller)
    stranger = PartnerFactory(name="Stranger", sellers=[seller])

    with pytest.raises(NotFound):
        cancellation_request_create(order_id=order.pk, actor=Actor.for_partner(stranger))
    with pytest.raises(InvalidInput) as err:
        cancellation_request_create(order_id=order.pk, actor=Actor.for_partner(partner), requested_by="someone")
    assert err.value.code == "invalid_requester"
    with pytest.raises(NotFound):
        cancellation_request_create(order_id=order.pk + 1000, actor=Actor.for_partner(partner))
    assert not CancellationRequest.objects.exists()


# --- answering ------------------------------------------------------------------------------------


def test_the_seller_approves_and_the_order_is_cancelled_with_its_parcel_and_stock(partner, seller, sku, buyer, clerk):
    subscribe(partner)
    order = picking(partner, seller)
    assert _reserved(sku) == 2
    request = _ask(order, buyer, reason="ordered twice")

    approved = cancellation_request_approve(request_id=request.pk, actor=clerk, note="no problem")

    assert (
        approved.status == CancellationStatus.APPROVED
        and approved.marketplace_status == "CANCELLATION_REQUEST_COMPLETE"
    )
    assert approved.decided_by == "seller:acme-clerk" and approved.decision_note == "no problem"
    assert approved.decided_at is not None
    order.refresh_from_db()
    assert (order.status, order.cancelled_by, order.cancel_reason) == (OrderStatus.CANCELLED, "buyer", "ordered twice")
    assert order.shipment.status == ShipmentStatus.CANCELLED  # the picked items go back
    assert _reserved(sku) == 0
    assert list(order.events.values_list("action", flat=True))[-2:] == [
        "cancellation_request_approved",
        "cancel_on_buyer_request",
    ]
    assert list(request.events.values_list("action", "to_status")) == [
        ("requested", "pending"),
        ("approved", "approved"),
    ]
    hooks = list(WebhookEvent.objects.order_by("pk").values_list("type", "data__status"))
    assert ("cancellation.status_changed", "approved") in hooks
    assert ("order.cancelled", "cancelled") in hooks

    # Approving again changes nothing.
    assert cancellation_request_approve(request_id=request.pk, actor=clerk).status == CancellationStatus.APPROVED
    assert request.events.count() == 2


def test_labelling_rejects_a_pending_request_and_approval_is_then_refused(partner, seller, sku, buyer, clerk, carrier):
    subscribe(partner)
    order = picking(partner, seller)
    request = _ask(order, buyer, reason="too slow")

    label(order, carrier)

    request.refresh_from_db()
    assert (
        request.status == CancellationStatus.REJECTED and request.marketplace_status == "CANCELLATION_REQUEST_CANCELLED"
    )
    assert "labelled" in request.decision_note
    assert request.events.last().action == "rejected"
    assert WebhookEvent.objects.filter(type="cancellation.status_changed", data__status="rejected").count() == 1
    with pytest.raises(TransitionRefused) as err:
        cancellation_request_approve(request_id=request.pk, actor=clerk)
    assert err.value.code == "already_shipped"
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED


def test_rejecting_needs_a_reason_and_leaves_the_order_alone(partner, seller, sku, buyer, clerk):
    order = past_hold(partner, seller)
    request = _ask(order, buyer)

    for blank in ("", "   "):
        with pytest.raises(InvalidInput) as err:
            cancellation_request_reject(request_id=request.pk, actor=clerk, reason=blank)
        assert err.value.code == "reason_required"
    rejected = cancellation_request_reject(
        request_id=request.pk, actor=clerk, reason="already on its way to the carrier"
    )

    assert (rejected.status, rejected.decision_note) == (
        CancellationStatus.REJECTED,
        "already on its way to the carrier",
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_CHECKOUT and _reserved(sku) == 2
    with pytest.raises(TransitionRefused) as err:
        cancellation_request_approve(request_id=request.pk, actor=clerk)
    assert err.value.code == "not_pending"


def test_past_respond_by_the_seller_can_no_longer_reject(partner, seller, sku, buyer, clerk):
    request = _ask(past_hold(partner, seller), buyer)

    with time_machine.travel(request.respond_by + timedelta(seconds=30), tick=False):
        with pytest.raises(TransitionRefused) as err:
            cancellation_request_reject(request_id=request.pk, actor=clerk, reason="too late to say no")
        assert err.value.code == "response_window_over"
        # Approving still may: it is what the timer is about to do anyway.
        assert cancellation_request_approve(request_id=request.pk, actor=clerk).status == CancellationStatus.APPROVED


def test_the_buyer_withdraws(partner, seller, sku, buyer, clerk):
    order = past_hold(partner, seller)
    request = _ask(order, buyer)

    withdrawn = cancellation_request_withdraw(request_id=request.pk, actor=buyer)

    assert (
        withdrawn.status == CancellationStatus.WITHDRAWN
        and withdrawn.marketplace_status == "CANCELLATION_REQUEST_CANCELLED"
    )
    assert cancellation_request_withdraw(request_id=request.pk, actor=buyer).status == CancellationStatus.WITHDRAWN
    assert request.events.count() == 2
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_CHECKOUT and _reserved(sku) == 2
    with pytest.raises(TransitionRefused) as err:
        cancellation_request_reject(request_id=request.pk, actor=clerk, reason="no")
    assert err.value.code == "not_pending"
    with pytest.raises(PermissionRefused):  # withdrawing is the buyer's side, not the seller's
        cancellation_request_withdraw(request_id=_ask(order, buyer).pk, actor=clerk)


def test_a_seller_cancelling_the_order_settles_the_pending_request(partner, seller, sku, buyer):
    order = past_hold(partner, seller)
    request = _ask(order, buyer, reason="wrong size")

    order_cancel(order_id=order.pk, by="seller", reason="out of stock", actor=buyer)

    request.refresh_from_db()
    assert request.status == CancellationStatus.APPROVED
    assert "seller: out of stock" in request.decision_note
    assert not CancellationRequest.objects.filter(status=CancellationStatus.PENDING).exists()


def test_who_may_answer(partner, seller, sku, buyer):
    order = past_hold(partner, seller)
    request = _ask(order, buyer)
    other_clerk = Actor.for_user(SellerUserFactory(username="other-clerk", seller=SellerFactory(code="OTHER")))
    staff = UserFactory(username="sam", is_staff=True)

    for actor in (other_clerk, Actor.for_user(staff), buyer):
        with pytest.raises(PermissionRefused):
            cancellation_request_approve(request_id=request.pk, actor=actor)
        with pytest.raises(PermissionRefused):
            cancellation_request_reject(request_id=request.pk, actor=actor, reason="no")
    request.refresh_from_db()
    assert request.status == CancellationStatus.PENDING

    staff.groups.add(Group.objects.get(name="Support"))
    staff = type(staff).objects.get(pk=staff.pk)  # drop the permission cache
    assert (
        cancellation_request_reject(request_id=request.pk, actor=Actor.for_user(staff), reason="no").status
        == CancellationStatus.REJECTED
    )
    with pytest.raises(NotFound):
        cancellation_request_approve(request_id=request.pk + 1000, actor=Actor.for_user(staff))


# --- the timer --------------------------------------------------------------------------------------


def test_nothing_at_47h59_and_auto_approved_at_48h01(partner, seller, sku, buyer):
    from backoffice.timers import process_due_timers

    subscribe(partner)
    order = picking(partner, seller)
    request = _ask(order, buyer, reason="changed my mind")

    with time_machine.travel(request.requested_at + timedelta(hours=47, minutes=59), tick=False):
        counts = process_due_timers()
    assert counts["cancellation_requests_auto_approved"] == 0
    request.refresh_from_db()
    assert request.status == CancellationStatus.PENDING
    assert _reserved(sku) == 2

    with time_machine.travel(request.requested_at + timedelta(hours=48, minutes=1), tick=False):
        counts = process_due_timers()
    assert counts["cancellation_requests_auto_approved"] == 1
    request.refresh_from_db()
    assert request.status == CancellationStatus.AUTO_APPROVED and request.decided_by == "system:timer"
    assert request.marketplace_status == "CANCELLATION_REQUEST_COMPLETE"
    order.refresh_from_db()
    assert (order.status, order.cancelled_by) == (OrderStatus.CANCELLED, "buyer")
    assert _reserved(sku) == 0
    assert OrderEvent.objects.filter(order=order, action="cancel_on_buyer_request", actor="system:timer").count() == 1
    assert WebhookEvent.objects.filter(type="cancellation.status_changed", data__status="auto_approved").count() == 1

    with time_machine.travel(request.requested_at + timedelta(hours=49), tick=False):
        assert process_due_timers()["cancellation_requests_auto_approved"] == 0


def test_a_failed_auto_approval_shows_its_error_until_a_later_pass_goes_through(
    partner, seller, sku, buyer, monkeypatch
):
    """The request is the only row its timer works on, so the pass that succeeds clears the old error."""
    from backoffice.timers import process_due_timers
    from returns.services import cancellations

    request = _ask(picking(partner, seller), buyer, reason="changed my mind")
    real = cancellations._approve_locked

    def fails(*args, **kwargs):
        raise RuntimeError("mail server down")

    monkeypatch.setattr(cancellations, "_approve_locked", fails)
    with time_machine.travel(request.requested_at + timedelta(hours=48, minutes=1), tick=False):
        process_due_timers()
    request.refresh_from_db()
    assert request.status == CancellationStatus.PENDING and "mail server down" in request.timer_error

    monkeypatch.setattr(cancellations, "_approve_locked", real)
    with time_machine.travel(request.requested_at + timedelta(hours=48, minutes=2), tick=False):
        process_due_timers()
    request.refresh_from_db()
    assert (request.status, request.timer_error) == (CancellationStatus.AUTO_APPROVED, "")
