"""Partner API for cancellation requests: the buyer's cancel after the hold (202), and /cancellation-requests/."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import PartnerFactory, SellerFactory, make_api_key
from core.actors import Actor
from fulfillment.models import Stock
from fulfillment.tests.factories import make_sku
from orders.tests.factories import make_order
from returns.models import CancellationRequest
from returns.services.cancellations import cancellation_request_create, cancellation_request_reject
from returns.tests.conftest import label, past_hold, picking

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/cancellation-requests/"


def detail_url(request_id: int) -> str:
    return f"{LIST_URL}{request_id}/"


def cancel_url(order) -> str:
    return f"/api/v1/orders/{order.pk}/cancel/"


@pytest.fixture
def rival():
    """Another partner with its own seller, order and cancellation request, and a client for it."""
    seller = SellerFactory(code="RIVAL")
    partner = PartnerFactory(name="Rival connector", sellers=[seller])
    make_sku(seller=seller, code="TSHIRT-M", on_hand=10)
    order = past_hold(partner, seller, external_id="RIVAL-1")
    request, _ = cancellation_request_create(order_id=order.pk, actor=Actor.for_partner(partner), external_id="RCR-1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(partner)}")
    return {"partner": partner, "order": order, "request": request, "api": client}


# --- POST /orders/{id}/cancel/ after the hold ---------------------------------------------------------


def test_buyer_cancel_after_the_hold_answers_202_with_the_request(api, partner, seller, sku):
    order = past_hold(partner, seller)

    response = api.post(cancel_url(order), {"by": "buyer", "reason": "too slow"}, format="json")

    assert response.status_code == 202
    body = response.json()
    request = CancellationRequest.objects.get()
    assert body["id"] == request.pk
    assert (body["order"], body["order_external_id"], body["seller"]) == (order.pk, order.external_id, "ACME")
    assert (body["status"], body["marketplace_status"]) == ("pending", "CANCELLATION_REQUEST_PENDING")
    assert (body["requested_by"], body["reason"], body["decided_at"], body["decided_by"]) == (
        "buyer",
        "too slow",
        None,
        None,
    )
    assert body["respond_by"] == request.respond_by.isoformat().replace("+00:00", "Z")
    assert body["order_status"] == "awaiting_checkout"
    order.refresh_from_db()
    assert order.status == "awaiting_checkout"
    assert Stock.objects.get(sku=sku).reserved == 2

    again = api.post(cancel_url(order), {"by": "buyer", "reason": "still too slow"}, format="json")
    assert again.status_code == 202
    assert again.json()["id"] == request.pk
    assert CancellationRequest.objects.count() == 1


def test_buyer_cancel_of_a_shipped_order_is_still_409_already_shipped(api, partner, seller, sku, carrier):
    order = label(picking(partner, seller), carrier)

    response = api.post(cancel_url(order), {"by": "buyer", "reason": "too slow"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "already_shipped"
    assert not CancellationRequest.objects.exists()


def test_cancel_after_an_approved_request_answers_with_the_cancelled_order(api, partner, seller, sku):
    from returns.services.cancellations import cancellation_request_approve

    order = past_hold(partner, seller)
    first = api.post(cancel_url(order), {"by": "buyer"}, format="json").json()
    cancellation_request_approve(request_id=first["id"], actor=Actor.system("test"))

    response = api.post(cancel_url(order), {"by": "buyer"}, format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["cancelled_by"]) == ("cancelled", "buyer")


# --- POST /cancellation-requests/ --------------------------------------------------------------------


def test_create_by_order_id_then_repeat_by_external_id(api, partner, seller, sku):
    order = past_hold(partner, seller, external_id="TT-900")

    created = api.post(LIST_URL, {"order": order.pk, "reason": "wrong colour", "external_id": "CR-77"}, format="json")
    repeat = api.post(LIST_URL, {"order_external_id": "TT-900", "external_id": "CR-77"}, format="json")

    assert created.status_code == 201
    assert repeat.status_code == 200
    assert created.json()["id"] == repeat.json()["id"] == CancellationRequest.objects.get().pk
    assert created.json()["external_id"] == "CR-77" and created.json()["reason"] == "wrong colour"


def test_create_with_an_idempotency_key_replays_the_first_answer(api, partner, seller, sku):
    order = past_hold(partner, seller)
    body = {"order": order.pk, "reason": "late"}

    first = api.post(LIST_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="key-1")
    second = api.post(LIST_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="key-1")

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert CancellationRequest.objects.count() == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "order"),
        ({"order": 1, "order_external_id": "x"}, "order"),
        ({"order": "abc"}, "order"),
        ({"order": 0}, "order"),
        ({"order_external_id": "x", "reason": "r" * 501}, "reason"),
        ({"order_external_id": "x", "external_id": "e" * 101}, "external_id"),
    ],
)
def test_bad_create_bodies_are_field_errors(api, partner, seller, sku, body, field):
    response = api.post(LIST_URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_create_during_the_hold_is_409_approval_not_needed(api, partner, seller, sku):
    held = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], paid_at=timezone.now())

    response = api.post(LIST_URL, {"order": held.pk}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "approval_not_needed"


# --- GET and withdraw ---------------------------------------------------------------------------------


def test_list_filters_and_detail(api, partner, seller, sku):
    other_seller = SellerFactory(code="GLOBEX")
    partner.sellers.add(other_seller)
    make_sku(seller=other_seller, code="TSHIRT-M", on_hand=10)
    actor = Actor.for_partner(partner)
    first = past_hold(partner, seller)
    second = past_hold(partner, other_seller)
    pending, _ = cancellation_request_create(order_id=first.pk, actor=actor)
    answered, _ = cancellation_request_create(order_id=second.pk, actor=actor)
    cancellation_request_reject(request_id=answered.pk, actor=Actor.system("test"), reason="packed already")

    everything = api.get(LIST_URL).json()
    assert everything["next"] is None
    assert [r["id"] for r in everything["results"]] == [answered.pk, pending.pk]  # most recently changed first

    def ids(**params):
        response = api.get(LIST_URL, params)
        assert response.status_code == 200, response.json()
        return [r["id"] for r in response.json()["results"]]

    assert ids(status="pending") == [pending.pk]
    assert ids(status="rejected") == [answered.pk]
    assert ids(order=second.pk) == [answered.pk]
    assert ids(seller="ACME") == [pending.pk]
    assert ids(order_external_id=first.external_id) == [pending.pk]
    for bad in ({"status": "nope"}, {"order": "1.5"}, {"updated_since": "yesterday"}):
        assert api.get(LIST_URL, bad).status_code == 400, bad

    detail = api.get(detail_url(answered.pk)).json()
    assert (detail["status"], detail["marketplace_status"]) == ("rejected", "CANCELLATION_REQUEST_CANCELLED")
    assert (detail["decision_note"], detail["decided_by"]) == ("packed already", "system")
    assert detail["decided_at"] is not None


def test_withdraw(api, partner, seller, sku):
    order = past_hold(partner, seller)
    request, _ = cancellation_request_create(order_id=order.pk, actor=Actor.for_partner(partner))

    response = api.post(f"{detail_url(request.pk)}withdraw/", {"note": "buyer changed their mind"}, format="json")
    again = api.post(f"{detail_url(request.pk)}withdraw/", {}, format="json")

    assert response.status_code == again.status_code == 200
    assert (response.json()["status"], response.json()["marketplace_status"]) == (
        "withdrawn",
        "CANCELLATION_REQUEST_CANCELLED",
    )
    assert response.json()["decision_note"] == "buyer changed their mind"
    assert response.json()["decided_by"] == "partner"
    order.refresh_from_db()
    assert order.status == "awaiting_checkout"


def test_withdrawing_an_answered_request_is_409(api, partner, seller, sku):
    order = past_hold(partner, seller)
    request, _ = cancellation_request_create(order_id=order.pk, actor=Actor.for_partner(partner))
    cancellation_request_reject(request_id=request.pk, actor=Actor.system("test"), reason="no")

    response = api.post(f"{detail_url(request.pk)}withdraw/", {}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "not_pending"


# --- tenant isolation, on every endpoint ------------------------------------------------------------------


def test_another_partners_requests_and_orders_are_not_found(api, partner, seller, sku, rival):
    mine = past_hold(partner, seller)
    cancellation_request_create(order_id=mine.pk, actor=Actor.for_partner(partner))
    theirs = rival["request"]

    listed = api.get(LIST_URL).json()["results"]
    assert theirs.pk not in [r["id"] for r in listed] and len(listed) == 1
    assert api.get(LIST_URL, {"order": rival["order"].pk}).json()["results"] == []
    assert api.get(LIST_URL, {"seller": "RIVAL"}).json()["results"] == []

    assert api.get(detail_url(theirs.pk)).status_code == 404
    withdraw = api.post(f"{detail_url(theirs.pk)}withdraw/", {}, format="json")
    assert (withdraw.status_code, withdraw.json()["code"]) == (404, "not_found")
    for body in ({"order": rival["order"].pk}, {"order_external_id": "RIVAL-1"}):
        response = api.post(LIST_URL, body, format="json")
        assert response.status_code == 404, body
    assert api.post(cancel_url(rival["order"]), {"by": "buyer"}, format="json").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "pending"
    assert CancellationRequest.objects.filter(order=rival["order"]).count() == 1

    # And the rival sees only its own.
    assert [r["id"] for r in rival["api"].get(LIST_URL).json()["results"]] == [theirs.pk]


def test_without_a_key_every_endpoint_is_401(partner, seller, sku):
    anonymous = APIClient()
    order = past_hold(partner, seller)
    request, _ = cancellation_request_create(order_id=order.pk, actor=Actor.for_partner(partner))

    assert anonymous.get(LIST_URL).status_code == 401
    assert anonymous.post(LIST_URL, {"order": order.pk}, format="json").status_code == 401
    assert anonymous.get(detail_url(request.pk)).status_code == 401
    assert anonymous.post(f"{detail_url(request.pk)}withdraw/", {}, format="json").status_code == 401
