"""Cancellation requests in the console: the queue with countdowns, approve / reject / create through the services."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.admin import helpers
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import make_staff_user
from core.actors import Actor
from orders.models import OrderStatus
from orders.tests.factories import make_order
from returns.models import CancellationRequest, CancellationStatus
from returns.services.cancellations import cancellation_request_create
from returns.tests.conftest import past_hold

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:returns_cancellationrequest_changelist")
ADD = reverse("admin:returns_cancellationrequest_add")


def change_url(request) -> str:
    return reverse("admin:returns_cancellationrequest_change", args=[request.pk])


@pytest.fixture
def support(client):
    client.force_login(make_staff_user("Support", username="sue"))
    return client


@pytest.fixture
def pending(partner, seller, sku):
    order = past_hold(partner, seller)
    request, _ = cancellation_request_create(order_id=order.pk, actor=Actor.for_partner(partner), reason="too slow")
    return request


def test_the_queue_counts_down_to_automatic_approval_and_flags_overdue_ones(support, pending):
    with time_machine.travel(pending.requested_at + timedelta(minutes=30), tick=False):
        page = support.get(CHANGELIST, {"status__exact": "pending"})
    assert page.status_code == 200
    assert f"#{pending.order_id}" in page.content.decode()
    assert "in 47 hours" in page.content.decode()

    with time_machine.travel(pending.requested_at + timedelta(hours=48, minutes=5), tick=False):
        overdue = support.get(CHANGELIST, {"deadline": "overdue"})
    assert "overdue by 5 minutes" in overdue.content.decode()

    detail = support.get(change_url(pending))
    assert detail.status_code == 200
    body = detail.content.decode()
    assert reverse("admin:returns_cancellationrequest_approve", args=[pending.pk]) in body
    assert reverse("admin:returns_cancellationrequest_reject", args=[pending.pk]) in body
    assert "requested" in body  # the history inline


def test_bulk_approve_asks_then_cancels_the_orders_through_the_service(support, pending, sku):
    chosen = {"action": "approve_selected", helpers.ACTION_CHECKBOX_NAME: [pending.pk]}

    ask = support.post(CHANGELIST, chosen)
    assert ask.status_code == 200
    assert "Approve and cancel the orders" in ask.content.decode()
    pending.refresh_from_db()
    assert pending.status == CancellationStatus.PENDING  # nothing happens before the confirmation

    done = support.post(CHANGELIST, {**chosen, "confirm": "yes", "note": "buyer called us"}, follow=True)

    assert "approved: order" in done.content.decode()
    pending.refresh_from_db()
    assert (pending.status, pending.decided_by, pending.decision_note) == (
        CancellationStatus.APPROVED,
        "staff:sue",
        "buyer called us",
    )
    assert pending.order.status == OrderStatus.CANCELLED
    assert pending.order.events.filter(action="cancel_on_buyer_request", actor="staff:sue").exists()
    assert pending.events.filter(action="approved", actor="staff:sue").exists()
    sku.stock.refresh_from_db()
    assert sku.stock.reserved == 0


def test_reject_needs_a_reason(support, pending):
    url = reverse("admin:returns_cancellationrequest_reject", args=[pending.pk])

    blank = support.post(url, {"reason": ""})
    assert blank.status_code == 200
    assert "This field is required" in blank.content.decode()
    pending.refresh_from_db()
    assert pending.status == CancellationStatus.PENDING

    done = support.post(url, {"reason": "already packed"})
    assert done.status_code == 302 and done.url == change_url(pending)
    pending.refresh_from_db()
    assert (pending.status, pending.decision_note, pending.decided_by) == (
        CancellationStatus.REJECTED,
        "already packed",
        "staff:sue",
    )
    assert pending.order.status == OrderStatus.AWAITING_CHECKOUT

    # An answered request has no buttons, and answering it again is refused with a message.
    assert url not in support.get(change_url(pending)).content.decode()
    again = support.post(
        reverse("admin:returns_cancellationrequest_approve", args=[pending.pk]), {"note": ""}, follow=True
    )
    assert "already rejected" in again.content.decode()
    pending.refresh_from_db()
    assert pending.status == CancellationStatus.REJECTED


def test_staff_create_a_request_for_an_order(support, partner, seller, sku):
    order = past_hold(partner, seller)

    form = support.get(ADD, {"order": order.pk})
    assert form.status_code == 200
    done = support.post(
        ADD, {"order": order.pk, "requested_by": "buyer", "reason": "phoned support", "external_id": ""}
    )

    request = CancellationRequest.objects.get()
    assert done.status_code == 302 and done.url == change_url(request)
    assert (request.order, request.status, request.requested_by, request.reason) == (
        order,
        CancellationStatus.PENDING,
        "buyer",
        "phoned support",
    )
    assert request.events.get().actor == "staff:sue"

    missing = support.post(ADD, {"order": order.pk + 999, "requested_by": "buyer"})
    assert "There is no order with this id." in missing.content.decode()
    on_hold = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], paid_at=timezone.now())
    refused = support.post(ADD, {"order": on_hold.pk, "requested_by": "buyer"})
    assert "cancel the order instead" in refused.content.decode()
    assert CancellationRequest.objects.count() == 1


def test_staff_without_the_permission_cannot_answer(client, pending):
    client.force_login(make_staff_user("Warehouse", username="wendy"))

    assert client.get(CHANGELIST).status_code == 403
    assert client.post(reverse("admin:returns_cancellationrequest_approve", args=[pending.pk]), {}).status_code == 403
    assert client.get(ADD).status_code == 403
    pending.refresh_from_db()
    assert pending.status == CancellationStatus.PENDING
