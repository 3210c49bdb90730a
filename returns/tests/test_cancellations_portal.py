"""The portal's Requests tab and an order's page: the seller answers cancellation requests (and returns)."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import PartnerFactory, SellerFactory, SellerUserFactory
from core.actors import Actor
from fulfillment.tests.factories import CarrierFactory, make_sku
from orders.models import OrderStatus
from returns.models import CancellationRequest, CancellationStatus, ReturnStatus, ReturnType
from returns.services.cancellations import cancellation_request_create
from returns.tests.conftest import past_hold
from returns.tests.return_support import delivered_order, request_return

pytestmark = pytest.mark.django_db

REQUESTS_URL = reverse("portal:requests")


def approve_url(request) -> str:
    return reverse("portal:cancellation_approve", args=[request.pk])


def reject_url(request) -> str:
    return reverse("portal:cancellation_reject", args=[request.pk])


@pytest.fixture
def portal(client, seller):
    client.force_login(SellerUserFactory(username="acme-clerk", seller=seller))
    return client


@pytest.fixture
def pending(partner, seller, sku):
    order = past_hold(partner, seller, external_id="TT-REQ-1")
    request, _ = cancellation_request_create(
        order_id=order.pk, actor=Actor.for_partner(partner), reason="found it cheaper"
    )
    return request


@pytest.fixture
def foreign():
    """Another seller's pending request."""
    seller = SellerFactory(code="OTHER")
    partner = PartnerFactory(name="Other connector", sellers=[seller])
    make_sku(seller=seller, code="TSHIRT-M", on_hand=5)
    order = past_hold(partner, seller, external_id="OTHER-SECRET-1")
    request, _ = cancellation_request_create(order_id=order.pk, actor=Actor.for_partner(partner))
    return request


def test_requests_tab_lists_pending_requests_with_a_countdown(portal, pending, foreign):
    with time_machine.travel(pending.requested_at + timedelta(minutes=1), tick=False):
        page = portal.get(REQUESTS_URL)

    body = page.content.decode()
    assert page.status_code == 200
    assert "TT-REQ-1" in body and "found it cheaper" in body
    assert "Approved automatically in 47 hours" in body
    assert approve_url(pending) in body and reject_url(pending) in body
    assert "OTHER-SECRET-1" not in body
    assert "No return requests are waiting for you." in body
    assert 'aria-current="page">Requests' in body

    with time_machine.travel(pending.respond_by + timedelta(minutes=3), tick=False):
        late = portal.get(REQUESTS_URL).content.decode()
    assert "Approval overdue by 3 minutes" in late
    assert approve_url(pending) in late and reject_url(pending) not in late  # too late to say no


def test_the_seller_approves_and_the_order_is_cancelled(portal, pending, sku):
    asked = portal.post(approve_url(pending))
    assert asked.status_code == 200 and "Yes, cancel the order" in asked.content.decode()
    assert CancellationRequest.objects.get(pk=pending.pk).status == "pending"  # nothing happens before the yes
    response = portal.post(approve_url(pending), {"confirmed": "yes"}, follow=True)

    assert response.redirect_chain[-1][0] == REQUESTS_URL
    assert "Cancellation approved" in response.content.decode()
    assert "No cancellation requests are waiting for you." in response.content.decode()
    pending.refresh_from_db()
    assert (pending.status, pending.decided_by) == (CancellationStatus.APPROVED, "seller:acme-clerk")
    assert pending.order.status == OrderStatus.CANCELLED
    sku.stock.refresh_from_db()
    assert sku.stock.reserved == 0


def test_rejecting_needs_a_reason(portal, pending):
    blank = portal.post(reject_url(pending), {"reason": "  "}, follow=True)

    assert "Give a reason for rejecting" in blank.content.decode()
    pending.refresh_from_db()
    assert pending.status == CancellationStatus.PENDING

    done = portal.post(reject_url(pending), {"reason": "It is already packed."}, follow=True)

    assert "Cancellation rejected" in done.content.decode()
    pending.refresh_from_db()
    assert (pending.status, pending.decision_note) == (CancellationStatus.REJECTED, "It is already packed.")
    assert pending.order.status == OrderStatus.AWAITING_CHECKOUT


def test_answering_twice_shows_what_happened(portal, pending):
    portal.post(reject_url(pending), {"reason": "no"})

    again = portal.post(approve_url(pending), {"confirmed": "yes"}, follow=True)

    assert "already rejected" in again.content.decode()
    pending.refresh_from_db()
    assert pending.status == CancellationStatus.REJECTED


def test_the_order_page_shows_the_pending_request_and_answers_come_back_to_it(portal, pending):
    order_url = reverse("portal:order_detail", args=[pending.order_id])

    page = portal.get(order_url).content.decode()
    assert "The buyer asked to cancel this order" in page and "found it cheaper" in page
    assert approve_url(pending) in page

    done = portal.post(approve_url(pending), {"next": order_url, "confirmed": "yes"}, follow=True)
    assert done.redirect_chain[-1][0] == order_url
    body = done.content.decode()
    assert "Cancelled at the buyer&#x27;s request" in body or "Cancelled at the buyer's request" in body
    assert "The buyer asked to cancel this order" not in body

    off_site = portal.post(reject_url(pending), {"reason": "x", "next": "https://evil.example/"})
    assert off_site.url == REQUESTS_URL


def test_another_sellers_request_is_not_found(portal, foreign):
    assert portal.post(approve_url(foreign)).status_code == 404
    assert portal.post(reject_url(foreign), {"reason": "mine now"}).status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == CancellationStatus.PENDING


def test_answers_are_post_only_and_need_the_csrf_token(seller, pending):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(SellerUserFactory(username="acme-clerk", seller=seller))

    assert strict.get(approve_url(pending)).status_code == 405
    assert strict.post(approve_url(pending)).status_code == 403
    pending.refresh_from_db()
    assert pending.status == CancellationStatus.PENDING


def test_staff_and_anonymous_users_get_no_requests_page(client, pending):
    assert client.get(REQUESTS_URL).status_code == 302  # to the login page
    assert client.post(approve_url(pending)).status_code == 302
    pending.refresh_from_db()
    assert pending.status == CancellationStatus.PENDING


# --- returns in the same tab (their services are returns.services.returns) ------------------------------


@pytest.fixture
def return_waiting(partner, seller, sku):
    order = delivered_order(partner, seller, CarrierFactory(code="backpost", name="Back Post"), lines=[("TSHIRT-M", 2)])
    return request_return(order, type=ReturnType.RETURN_AND_REFUND, units={"TSHIRT-M": 1})


def test_requests_tab_lists_a_waiting_return_and_the_seller_approves_it(portal, return_waiting):
    page = portal.get(REQUESTS_URL).content.decode()
    assert f"#{return_waiting.order_id}" in page and "1 × TSHIRT-M" in page
    assert "Approved automatically in 47 hours" in page

    done = portal.post(reverse("portal:return_approve", args=[return_waiting.pk]), follow=True)

    assert f"Return for order #{return_waiting.order_id} approved." in done.content.decode()
    assert "No return requests are waiting for you." in done.content.decode()
    return_waiting.refresh_from_db()
    assert return_waiting.status not in (ReturnStatus.REQUESTED, ReturnStatus.REJECTED)
    assert return_waiting.decided_by == "seller:acme-clerk"


def test_the_seller_rejects_a_return_with_a_reason(portal, return_waiting):
    url = reverse("portal:return_reject", args=[return_waiting.pk])
    blank = portal.post(url, {"reason": ""}, follow=True)
    assert "Give a reason for rejecting" in blank.content.decode()
    return_waiting.refresh_from_db()
    assert return_waiting.status == ReturnStatus.REQUESTED

    portal.post(url, {"reason": "Used and worn."})

    return_waiting.refresh_from_db()
    assert (return_waiting.status, return_waiting.decision_note) == (ReturnStatus.REJECTED, "Used and worn.")


def test_another_sellers_return_is_not_found(client, return_waiting):
    client.force_login(SellerUserFactory(username="stranger", seller=SellerFactory(code="STRANGER")))

    assert client.post(reverse("portal:return_approve", args=[return_waiting.pk])).status_code == 404
    assert client.post(reverse("portal:return_reject", args=[return_waiting.pk]), {"reason": "x"}).status_code == 404
    assert "1 × TSHIRT-M" not in client.get(REQUESTS_URL).content.decode()
