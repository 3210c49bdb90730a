"""What the fuzzer found at the API's edges: times, empty and repeated parameters, unmatched paths, the schema."""

import base64
import json
from datetime import timedelta
from urllib.parse import quote

import pytest
import time_machine
import yaml
from django.utils import timezone

from orders.tests.factories import make_order, order_request_body

URL = "/api/v1/orders/"
LISTS = ["/api/v1/orders/", "/api/v1/cancellation-requests/", "/api/v1/returns/"]


def _since(query: str) -> str:
    return f"updated_since={quote(query)}"


# --- time filters: normalised to UTC (both databases) ------------------------------------------------


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("offset", ["+20:00", "-23:59", "+15:59"])
def test_updated_since_with_any_offset_python_accepts_is_compared_in_utc(api, partner, seller, sku, url, offset):
    """PostgreSQL refuses offsets beyond ±15:59; they answered 500 before the value was turned into UTC."""
    response = api.get(f"{url}?{_since('2026-03-02T09:00:00' + offset)}")

    assert response.status_code == 200, response.content


def test_updated_since_means_the_same_instant_whatever_its_offset(api, partner, seller, sku):
    start = timezone.now().replace(microsecond=0) - timedelta(hours=6)
    with time_machine.travel(start, tick=False):
        early = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        late = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    # One hour after ``start``, written 20 hours ahead of UTC.
    local = (start + timedelta(hours=21)).replace(tzinfo=None).isoformat() + "+20:00"

    response = api.get(f"{URL}?{_since(local)}")

    assert response.status_code == 200
    assert [o["id"] for o in response.json()["results"]] == [late.pk]
    assert early.pk not in [o["id"] for o in response.json()["results"]]


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_that_leaves_the_calendar_in_utc_is_a_field_error(api, value):
    response = api.get(f"{URL}?{_since(value)}")

    assert response.status_code == 400
    assert "updated_since" in response.json()["errors"]


def test_a_forged_cursor_with_a_far_offset_is_read_in_utc(api, partner, seller, sku):
    make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    cursor = base64.urlsafe_b64encode(json.dumps(["2026-03-02T09:00:00+20:00", 1]).encode()).decode()

    response = api.get(f"{URL}?cursor={cursor}")

    assert response.status_code == 200, response.content


# --- empty and repeated query parameters ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "query", "field"),
    [
        (URL, "status=", "status"),
        (URL, "updated_since=", "updated_since"),
        (URL, "seller=", "seller"),
        (URL, "cursor=", "cursor"),
        (URL, "status=on_hold&status=cancelled", "status"),
        ("/api/v1/cancellation-requests/", "order=1&order=2", "order"),
        ("/api/v1/returns/", "order=1&order=1", "order"),
        ("/api/v1/returns/", "type=", "type"),
        ("/api/v1/stock/", "sku=", "sku"),
        ("/api/v1/carriers/", "cursor=", "cursor"),
    ],
)
def test_empty_or_repeated_parameters_are_refused(api, url, query, field):
    response = api.get(f"{url}?{query}")

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


# --- timestamps far in the past ---------------------------------------------------------------------


@pytest.mark.parametrize("placed_at", ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"])
def test_an_order_placed_long_ago_is_refused(api, sku, placed_at):
    response = api.post(URL, order_request_body(placed_at=placed_at), format="json")

    assert response.status_code == 400
    assert response.json()["errors"]["placed_at"] == ["Must not be more than 90 days in the past."]


def test_the_oldest_accepted_time_is_a_setting(api, sku, settings):
    settings.TIMESTAMP_MAX_AGE = timedelta(days=10)
    eleven_days = (timezone.now() - timedelta(days=11)).isoformat()
    nine_days = (timezone.now() - timedelta(days=9)).isoformat()

    refused = api.post(URL, order_request_body(placed_at=eleven_days), format="json")
    accepted = api.post(URL, order_request_body(placed_at=nine_days), format="json")

    assert refused.status_code == 400
    assert accepted.status_code == 201


def test_an_old_buyer_payment_and_carrier_event_are_refused(api, partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    long_ago = (timezone.now() - timedelta(days=91)).isoformat()

    payment = api.post(f"{URL}{order.pk}/buyer-payment/", {"status": "paid", "paid_at": long_ago}, format="json")
    event = api.post(f"{URL}{order.pk}/shipment-events/", {"type": "picked_up", "at": long_ago}, format="json")

    assert payment.status_code == event.status_code == 400
    assert "paid_at" in payment.json()["errors"]
    assert "at" in event.json()["errors"]


# --- every answer under /api/ is JSON ------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/v1/nothing-here/", 404),
        ("get", "/api/v2/orders/", 404),
        ("get", "/api/", 404),
        ("post", "/api/v1/orders/not-a-number/cancel/", 404),
        ("get", "/api/v1/orders/null%2Cnull/", 404),
        ("delete", "/api/v1/orders/", 405),
        ("post", "/api/v1/schema/", 405),
        ("put", "/api/v1/ping/", 405),
    ],
)
def test_every_answer_under_api_is_json_in_the_error_shape(api, settings, debug, method, path, status):
    settings.DEBUG = debug

    response = getattr(api, method)(path)

    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "detail"}
    assert body["code"] == {404: "not_found", 405: "method_not_allowed"}[status]


def test_a_missing_trailing_slash_is_named_instead_of_redirected(api):
    response = api.post("/api/v1/orders", order_request_body(), format="json")

    assert response.status_code == 404
    assert "/api/v1/orders/ (with a trailing slash)" in response.json()["detail"]


def test_pages_outside_the_api_keep_their_html(client, db):
    response = client.get("/portal/nothing-here/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# --- the schema says what the server does --------------------------------------------------------------


@pytest.fixture
def schema(client, db):
    return yaml.safe_load(client.get("/api/v1/schema/").content)


def _operation(schema, operation_id):
    return next(op for path in schema["paths"].values() for op in path.values() if op["operationId"] == operation_id)


def test_schema_states_the_limits_the_server_enforces(schema):
    components = schema["components"]["schemas"]
    orders_list = {p["name"]: p for p in _operation(schema, "orders_list")["parameters"]}
    create = _operation(schema, "orders_create")
    key = next(p for p in create["parameters"] if p["name"] == "Idempotency-Key")

    assert orders_list["cursor"]["schema"]["minLength"] == 1
    assert "400" in _operation(schema, "carriers_list")["responses"]  # a bad cursor
    assert orders_list["seller"]["schema"]["minLength"] == 1
    assert orders_list["updated_since"]["schema"]["minLength"] == 1
    assert key["schema"] == {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]{1,255}$"}
    assert components["OrderCreateRequest"]["properties"]["external_id"]["minLength"] == 1
    assert components["ReturnEventRequest"]["properties"]["tracking_number"]["minLength"] == 1
    # paid_at is required exactly when the buyer has paid.
    paid, pending = components["OrderCreateRequest"]["oneOf"]
    assert paid["required"] == ["buyer_payment", "paid_at"]
    assert pending["properties"]["paid_at"] == {"nullable": True, "enum": [None]}
    assert len(components["BuyerPaymentRequest"]["oneOf"]) == 2
    assert [v["required"] for v in components["CancellationRequestCreateRequest"]["oneOf"]] == [
        ["order"],
        ["order_external_id"],
    ]
