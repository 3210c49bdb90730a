"""The partner API for returns: create (201, then 200 on repeat), list, detail, the buyer's shipment event,
error codes, and tenant isolation on every endpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
import yaml
from rest_framework.test import APIClient

from accounts.tests.factories import PartnerFactory, SellerFactory, make_api_key
from fulfillment.tests.factories import CarrierFactory, make_sku
from returns.models import ReturnRequest, ReturnStatus
from returns.services.returns import return_approve
from returns.tests.return_support import delivered_order, request_return, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def carrier(db):
    return CarrierFactory(code="backpost", name="Back Post")


@pytest.fixture
def delivered(partner, seller, sku, carrier):
    make_sku(seller=seller, code="CAP", on_hand=20, wholesale_cost=400)
    return delivered_order(partner, seller, carrier, lines=[("TSHIRT-M", 3), ("CAP", 1)])


@pytest.fixture
def stranger(db, carrier):
    """Another partner with its own seller and delivered order, and an API client for it."""
    seller = SellerFactory(code="GLOBEX")
    partner = PartnerFactory(name="Connector B", sellers=[seller])
    make_sku(seller=seller, code="TSHIRT-M", on_hand=10)
    order = delivered_order(partner, seller, carrier, lines=[("TSHIRT-M", 1)])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(partner)}")
    return client, order


def _create(api, order, **body):
    payload = {"type": "return_and_refund", "reason": "damaged", "lines": [{"sku": "TSHIRT-M", "quantity": 2}], **body}
    return api.post(f"/api/v1/orders/{order.pk}/returns/", payload, format="json")


def test_a_return_is_created_with_201_and_a_repeat_answers_200_with_the_same_return(api, delivered):
    tshirt = delivered.lines.get(sku_code="TSHIRT-M")
    created = _create(
        api,
        delivered,
        external_id="RMA-1",
        buyer_note="box crushed",
        lines=[{"line_id": tshirt.pk, "quantity": 2}, {"sku": "CAP", "quantity": 1}],
    )

    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["status"], body["marketplace_status"], body["type"]) == (
        "requested",
        "RETURN_OR_REFUND_REQUEST_PENDING",
        "return_and_refund",
    )
    assert (body["order"], body["order_external_id"], body["seller"], body["external_id"]) == (
        delivered.pk,
        delivered.external_id,
        "ACME",
        "RMA-1",
    )
    assert [
        (line["order_line_id"], line["sku"], line["quantity"], line["received_quantity"]) for line in body["lines"]
    ] == [(tshirt.pk, "TSHIRT-M", 2, None), (delivered.lines.get(sku_code="CAP").pk, "CAP", 1, None)]
    assert body["respond_by"] and body["refund"] is None and body["replacement_order"] is None
    assert body["return_shipment"] is None

    again = _create(api, delivered, external_id="RMA-1", lines=[{"sku": "TSHIRT-M", "quantity": 1}])
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    assert ReturnRequest.objects.count() == 1


def test_too_many_units_is_a_400_naming_the_line(api, delivered):
    answer = _create(api, delivered, lines=[{"sku": "CAP", "quantity": 1}, {"sku": "TSHIRT-M", "quantity": 4}])

    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "quantity_exceeds_returnable"
    assert body["errors"]["lines"][0] == {}
    assert "At most 3 unit(s) of TSHIRT-M" in body["errors"]["lines"][1]["quantity"][0]
    bad = _create(api, delivered, lines=[{"sku": "TSHIRT-M", "line_id": 1, "quantity": 1}])
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid")
    assert not ReturnRequest.objects.exists()


def test_an_order_not_delivered_or_past_its_window_is_a_409(api, delivered, partner, seller):
    from orders.tests.factories import make_ready_order

    ready = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    answer = _create(api, ready, lines=[{"sku": "TSHIRT-M", "quantity": 1}])
    assert (answer.status_code, answer.json()["code"]) == (409, "not_delivered")

    with time_machine.travel(delivered.return_window_ends_at + timedelta(minutes=1)):
        late = _create(api, delivered)
    assert (late.status_code, late.json()["code"]) == (409, "return_window_closed")


def test_the_buyer_shipping_it_back_moves_the_return_in_transit(api, delivered):
    ret = request_return(delivered, type="return_and_refund", units={"CAP": 1})
    url = f"/api/v1/returns/{ret.pk}/events/"
    early = api.post(
        url, {"type": "buyer_shipped", "carrier": "backpost", "tracking_number": "TRK12345678"}, format="json"
    )
    assert (early.status_code, early.json()["code"]) == (409, "not_approved")
    return_approve(return_id=ret.pk, actor=staff("Support"))

    wrong = api.post(url, {"type": "buyer_shipped", "carrier": "backpost", "tracking_number": "1Z999"}, format="json")
    assert (wrong.status_code, wrong.json()["code"]) == (400, "tracking_number_invalid")
    unknown = api.post(
        url, {"type": "buyer_shipped", "carrier": "nope", "tracking_number": "TRK12345678"}, format="json"
    )
    assert (unknown.status_code, unknown.json()["code"]) == (400, "unknown_carrier")
    shipped = api.post(
        url,
        {"type": "buyer_shipped", "carrier": "backpost", "tracking_number": "trk 1234 5678"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="ship-1",
    )

    assert shipped.status_code == 200
    body = shipped.json()
    assert (body["status"], body["marketplace_status"]) == ("in_transit", "BUYER_SHIPPED_ITEM")
    assert body["return_shipment"]["carrier"] == {"code": "backpost", "name": "Back Post"}
    assert body["return_shipment"]["tracking_number"] == "TRK12345678"
    assert body["return_shipment"]["tracking_url"] == "https://track.example.com/TRK12345678"
    replay = api.post(
        url,
        {"type": "buyer_shipped", "carrier": "backpost", "tracking_number": "trk 1234 5678"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="ship-1",
    )
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert ReturnRequest.objects.get(pk=ret.pk).events.filter(action="mark_in_transit").count() == 1


def test_list_and_detail_show_only_the_partners_returns_with_filters(api, delivered, stranger):
    mine = request_return(delivered, type="refund_only", units={"CAP": 1})
    also_mine = request_return(delivered, type="return_and_refund", units={"TSHIRT-M": 1})
    return_approve(return_id=also_mine.pk, actor=staff("Support"))
    _, their_order = stranger
    theirs = request_return(their_order, type="refund_only")

    listed = api.get("/api/v1/returns/").json()
    assert [r["id"] for r in listed["results"]] == [also_mine.pk, mine.pk]
    assert listed["next"] is None
    waiting = api.get("/api/v1/returns/", {"status": "awaiting_return_shipment"}).json()["results"]
    assert [r["id"] for r in waiting] == [also_mine.pk]
    assert [r["id"] for r in api.get("/api/v1/returns/", {"type": "refund_only"}).json()["results"]] == [mine.pk]
    assert api.get("/api/v1/returns/", {"status": "nonsense"}).status_code == 400
    assert api.get(f"/api/v1/returns/{mine.pk}/").json()["type"] == "refund_only"
    assert api.get(f"/api/v1/returns/{theirs.pk}/").status_code == 404


def test_another_partners_order_and_return_are_not_found_on_every_endpoint(api, stranger, delivered):
    _, their_order = stranger
    theirs = request_return(their_order, type="return_and_refund")
    return_approve(return_id=theirs.pk, actor=staff("Support"))

    create = _create(api, their_order, lines=[{"sku": "TSHIRT-M", "quantity": 1}])
    event = api.post(
        f"/api/v1/returns/{theirs.pk}/events/",
        {"type": "buyer_shipped", "carrier": "backpost", "tracking_number": "TRK12345678"},
        format="json",
    )
    detail = api.get(f"/api/v1/returns/{theirs.pk}/")

    assert [r.status_code for r in (create, event, detail)] == [404, 404, 404]
    assert {r.json()["code"] for r in (create, event, detail)} == {"not_found"}
    assert ReturnRequest.objects.filter(order=their_order).count() == 1
    theirs.refresh_from_db()
    assert theirs.status == ReturnStatus.AWAITING_RETURN_SHIPMENT
    assert api.get("/api/v1/returns/").json()["results"] == []


def test_every_endpoint_needs_a_key(delivered):
    anonymous = APIClient()
    assert anonymous.get("/api/v1/returns/").status_code == 401
    assert anonymous.post(f"/api/v1/orders/{delivered.pk}/returns/", {}, format="json").status_code == 401


def test_the_schema_documents_the_return_operations(client):
    schema = yaml.safe_load(client.get("/api/v1/schema/").content)
    operations = {op["operationId"]: op for path in schema["paths"].values() for op in path.values()}

    assert {"returns_create", "returns_list", "returns_retrieve", "returns_event"} <= set(operations)
    for name in ("returns_create", "returns_event"):
        assert [p["name"] for p in operations[name]["parameters"] if p["in"] == "header"] == ["Idempotency-Key"]
        assert {"400", "401", "404", "409"} <= set(operations[name]["responses"])
    assert set(operations["returns_create"]["responses"]) >= {"200", "201"}
    request = schema["components"]["schemas"]["ReturnCreateRequest"]
    assert set(request["required"]) == {"type", "reason", "lines"}
    output = schema["components"]["schemas"]["ReturnOutput"]["properties"]
    assert {"status", "marketplace_status", "type", "lines", "respond_by", "refund", "replacement_order"} <= set(output)
