"""POST /api/v1/orders/: intake, its idempotency by external_id, and every way a body can be wrong."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import PartnerFactory, SellerFactory, make_api_key
from fulfillment.models import Stock
from fulfillment.tests.factories import make_sku
from orders.models import Order, OrderEvent
from orders.tests.factories import order_request_body

URL = "/api/v1/orders/"
MISSING = object()


def post(api, body):
    return api.post(URL, body, format="json")


def test_create_answers_201_with_the_order_and_reserves_stock(api, sku):
    response = post(
        api, order_request_body(external_id="TT-100", lines=[{"sku": "TSHIRT-M", "quantity": 3, "unit_price": "19.99"}])
    )

    assert response.status_code == 201
    body = response.json()
    order = Order.objects.get(pk=body["id"])
    assert body["external_id"] == "TT-100"
    assert body["seller"] == "ACME"
    assert body["status"] == "pending_payment"
    assert body["marketplace_status"] == "UNPAID"
    assert body["stock_exception"] is False
    assert body["lines"][0]["unit_price"] == "19.99"
    assert order.lines.get().unit_price == 1999
    assert body["lines"][0]["reserved"] == 3
    assert body["lines"][0]["reservation"] == {"quantity": 3, "released_at": None, "consumed_at": None}
    assert Stock.objects.get(sku=sku).reserved == 3


def test_repeating_an_external_id_answers_200_with_the_existing_order_and_changes_nothing(api, sku):
    first = post(api, order_request_body(external_id="TT-7"))
    events = OrderEvent.objects.count()
    reserved = Stock.objects.get(sku=sku).reserved

    again = post(
        api, order_request_body(external_id="TT-7", lines=[{"sku": "TSHIRT-M", "quantity": 5, "unit_price": "1.00"}])
    )

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert Order.objects.count() == 1
    assert OrderEvent.objects.count() == events
    assert Stock.objects.get(sku=sku).reserved == reserved


def test_the_same_external_id_from_another_partner_is_another_order(api, seller, sku):
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(PartnerFactory(sellers=[seller]))}")

    assert post(api, order_request_body(external_id="TT-1")).status_code == 201
    assert post(other, order_request_body(external_id="TT-1")).status_code == 201
    assert Order.objects.filter(external_id="TT-1").count() == 2


def test_unknown_sku_is_accepted_and_flagged(api, sku):
    response = post(
        api,
        order_request_body(
            lines=[
                {"sku": "TSHIRT-M", "quantity": 1, "unit_price": "19.99"},
                {"sku": "NO-SUCH-SKU", "quantity": 2, "unit_price": "5.00"},
            ]
        ),
    )

    assert response.status_code == 201
    body = response.json()
    assert body["stock_exception"] is True
    unknown = body["lines"][1]
    assert unknown["sku"] == "NO-SUCH-SKU"
    assert unknown["reserved"] == 0
    assert unknown["reservation"] is None


def test_missing_stock_is_accepted_and_flagged(api, seller):
    make_sku(seller=seller, code="RARE", on_hand=1)

    response = post(api, order_request_body(lines=[{"sku": "RARE", "quantity": 3, "unit_price": "9.00"}]))

    assert response.status_code == 201
    assert response.json()["stock_exception"] is True
    assert response.json()["lines"][0]["reserved"] == 1


def test_paid_intake_starts_on_hold_until_an_hour_after_payment(api, sku):
    placed = timezone.now() - timedelta(minutes=30)
    paid = placed + timedelta(minutes=10)

    response = post(
        api, order_request_body(placed_at=placed.isoformat(), buyer_payment="paid", paid_at=paid.isoformat())
    )

    assert response.status_code == 201
    order = Order.objects.get(pk=response.json()["id"])
    assert order.status == "on_hold"
    assert order.buyer_paid_at == paid
    assert order.hold_until == paid + timedelta(minutes=60)


def test_response_masks_the_buyer_and_drops_the_street(api, sku):
    response = post(api, order_request_body())

    body = response.json()
    assert body["buyer"] == {"name": "J*** D***", "phone": "***-***-1234", "email": "j***@example.com"}
    assert body["shipping_address"] == {"city": "Austin", "region": "TX"}
    raw = response.content.decode()
    for secret in ("John", "Doe", "555", "john.doe", "Elm Street", "Apt 7", "73301"):
        assert secret not in raw
    # The full details are kept for the warehouse labels, only not shown to the partner.
    order = Order.objects.get(pk=body["id"])
    assert (order.buyer_name, order.ship_line1, order.ship_postal_code) == ("John Doe", "42 Elm Street", "73301")


def test_seller_the_partner_is_not_linked_to_is_a_field_error(api, sku):
    SellerFactory(code="OTHER")

    for code in ("OTHER", "NOPE"):
        response = post(api, order_request_body(seller=code))
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"
        assert list(response.json()["errors"]) == ["seller"]
        assert response.json()["errors"]["seller"] == ["Unknown seller, or not one this partner may act for."]
    assert not Order.objects.exists()
    assert not OrderEvent.objects.exists()
    assert Stock.objects.get(sku=sku).reserved == 0


def test_an_unknown_seller_is_reported_with_the_other_bad_fields_in_body_order(api, sku):
    body = order_request_body(
        external_id="", seller="NOPE", lines=[{"sku": "TSHIRT-M", "quantity": 0, "unit_price": "1.00"}]
    )

    response = post(api, body)

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == ["external_id", "seller", "lines"]
    assert errors["seller"] == ["Unknown seller, or not one this partner may act for."]
    assert not Order.objects.exists()


def test_a_known_seller_is_not_reported_when_other_fields_are_bad(api, sku):
    response = post(api, order_request_body(external_id="", seller=" ACME "))

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["external_id"]


def test_an_unknown_seller_is_refused_even_for_an_external_id_already_taken(api, sku):
    first = post(api, order_request_body(external_id="TT-SAME"))
    SellerFactory(code="OTHER")

    again = post(api, order_request_body(external_id="TT-SAME", seller="OTHER"))

    assert first.status_code == 201
    assert again.status_code == 400
    assert list(again.json()["errors"]) == ["seller"]
    assert Order.objects.count() == 1
    assert Stock.objects.get(sku=sku).reserved == 2


def test_unit_prices_up_to_the_documented_maximum_are_accepted_in_full(api, sku):
    """The bounds are in major units: "9999999.99" is the most, not 99,999.99."""
    lines = [{"sku": "TSHIRT-M", "quantity": 1, "unit_price": price} for price in ("0.00", "100000.00", "9999999.99")]

    response = post(api, order_request_body(lines=lines))

    assert response.status_code == 201, response.content
    assert [line["unit_price"] for line in response.json()["lines"]] == ["0.00", "100000.00", "9999999.99"]
    assert sorted(Order.objects.get().lines.values_list("unit_price", flat=True)) == [0, 10_000_000, 999_999_999]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lines": MISSING}, "lines"),
        ({"lines": []}, "lines"),
        ({"lines": [{"sku": "TSHIRT-M", "quantity": 0, "unit_price": "1.00"}]}, "lines"),
        ({"lines": [{"sku": "TSHIRT-M", "quantity": -2, "unit_price": "1.00"}]}, "lines"),
        ({"lines": [{"sku": "TSHIRT-M", "quantity": 1, "unit_price": "-1.00"}]}, "lines"),
        ({"lines": [{"sku": "TSHIRT-M", "quantity": 1, "unit_price": "1.999"}]}, "lines"),
        ({"lines": [{"sku": "TSHIRT-M", "quantity": 1, "unit_price": "10000000.00"}]}, "lines"),
        ({"placed_at": "yesterday"}, "placed_at"),
        ({"placed_at": "2024-02-30T10:00:00Z"}, "placed_at"),
        ({"placed_at": "2999-01-01T00:00:00Z"}, "placed_at"),
        ({"buyer_payment": "paid"}, "paid_at"),
        ({"buyer_payment": "paid", "paid_at": "not a date"}, "paid_at"),
        ({"buyer_payment": "pending", "paid_at": "2024-01-01T00:00:00Z"}, "paid_at"),
        ({"buyer_payment": "refunded"}, "buyer_payment"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": "x" * 101}, "external_id"),
        ({"buyer": {"name": "", "phone": "1", "email": "a@b.co"}}, "buyer"),
        ({"buyer": {"name": "Jo", "email": "not-an-email"}}, "buyer"),
        ({"shipping_address": {"line1": "1 St", "city": "X", "country": "USA"}}, "shipping_address"),
    ],
)
def test_bad_fields_are_400_with_the_field_named(api, sku, change, field):
    body = {name: value for name, value in order_request_body(**change).items() if value is not MISSING}

    response = post(api, body)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
    assert not Order.objects.exists()


def test_paid_before_placed_is_a_field_error(api, sku):
    placed = timezone.now() - timedelta(hours=1)
    body = order_request_body(
        placed_at=placed.isoformat(), buyer_payment="paid", paid_at=(placed - timedelta(seconds=1)).isoformat()
    )

    response = post(api, body)

    assert response.status_code == 400
    assert "paid_at" in response.json()["errors"]


def test_line_errors_say_which_line(api, sku):
    body = order_request_body(
        lines=[
            {"sku": "TSHIRT-M", "quantity": 1, "unit_price": "1.00"},
            {"sku": "TSHIRT-M", "quantity": 0, "unit_price": "1.00"},
        ]
    )

    errors = post(api, body).json()["errors"]

    assert list(errors["lines"]) == ["1"]
    assert "quantity" in errors["lines"]["1"]


def _nasty_bodies():
    """Bodies a buggy or hostile client might send: none of them may reach the database or cause a 500."""
    valid = order_request_body(external_id="NASTY")
    line = valid["lines"][0]
    as_json = [
        None,
        [],
        [valid],
        "a string",
        12345,
        True,
        {},
        {**valid, "lines": "TSHIRT-M"},
        {**valid, "lines": {"sku": "TSHIRT-M", "quantity": 1, "unit_price": "1.00"}},
        {**valid, "lines": [1, 2, 3]},
        {**valid, "lines": [[]]},
        {**valid, "lines": [None]},
        {**valid, "lines": [{**line, "quantity": "many"}]},
        {**valid, "lines": [{**line, "quantity": 10**30}]},
        {**valid, "lines": [{**line, "quantity": -(10**30)}]},
        {**valid, "lines": [{**line, "quantity": 1.5}]},
        {**valid, "lines": [{**line, "quantity": True}]},
        {**valid, "lines": [{**line, "quantity": [1]}]},
        {**valid, "lines": [{**line, "unit_price": "NaN"}]},
        {**valid, "lines": [{**line, "unit_price": "Infinity"}]},
        {**valid, "lines": [{**line, "unit_price": "1e10"}]},
        {**valid, "lines": [{**line, "unit_price": 10**30}]},
        {**valid, "lines": [{**line, "unit_price": {"amount": 1}}]},
        {**valid, "lines": [{**line, "sku": None}]},
        {**valid, "lines": [{**line, "sku": "A\x00B"}]},
        {**valid, "lines": [{**line, "sku": {"$gt": ""}}]},
        {**valid, "lines": [{**line, "sku": "x" * 10_000}]},
        {**valid, "lines": [line] * 1000},
        {**valid, "external_id": "TT\x00-1"},
        {**valid, "external_id": ["TT-1"]},
        {**valid, "external_id": None},
        {**valid, "seller": {"code": "ACME"}},
        {**valid, "seller": ["ACME"]},
        {**valid, "seller": "AC\x00ME"},
        {**valid, "placed_at": 1700000000},
        {**valid, "placed_at": "0000-00-00T00:00:00Z"},
        {**valid, "placed_at": "9999-12-31T23:59:59Z"},
        {**valid, "placed_at": "0001-01-01T00:00:00+05:00"},
        {**valid, "placed_at": "2024-01-01T00:00:00Z" + "0" * 10_000},
        {**valid, "placed_at": {"date": "2024-01-01"}},
        {**valid, "buyer_payment": "paid", "paid_at": "9999-12-31T23:59:59Z"},
        {**valid, "buyer_payment": None},
        {**valid, "buyer": None},
        {**valid, "buyer": "John Doe"},
        {**valid, "buyer": [valid["buyer"]]},
        {**valid, "buyer": {**valid["buyer"], "name": "Jo\x00hn"}},
        {**valid, "buyer": {**valid["buyer"], "name": {"a": {"b": {"c": [1, [2, [3]]]}}}}},
        {**valid, "shipping_address": []},
        {**valid, "shipping_address": {**valid["shipping_address"], "postal_code": "9" * 500}},
        {**valid, "shipping_address": {**valid["shipping_address"], "country": "\x00\x00"}},
        # Lone surrogates: valid JSON escapes, but not text any database can store.
        {**valid, "external_id": "\ud800"},
        {**valid, "buyer": {**valid["buyer"], "name": "\udfff x"}},
    ]
    raw = [
        b"",
        b"not json",
        b"{",
        b'{"external_id": "TT-1",}',
        b"NaN",
        b'{"lines": [{"quantity": NaN}]}',
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b"\xff\xfe\xfd",
        b'{"external_id": "\xed\xa0\x80"}',
        b'{"lines": [{"quantity": 1' + b"0" * 5000 + b"}]}",
        b"\x00\x00\x00\x00",
    ]
    return [json.dumps(body).encode() for body in as_json] + raw


def test_nasty_bodies_are_always_400_and_write_nothing(api, sku):
    failures = []
    for raw in _nasty_bodies():
        response = api.generic("POST", URL, raw, content_type="application/json")
        body = response.json()
        if response.status_code != 400 or "code" not in body:
            failures.append((raw[:80], response.status_code, body))
    assert failures == []
    assert not Order.objects.exists()
    assert Stock.objects.get(sku=sku).reserved == 0


def test_a_body_that_is_not_json_is_refused_not_crashed_on(api, sku):
    response = api.post(URL, "external_id=1", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


@pytest.mark.parametrize("idempotency_key", [None, "big-1"])
def test_a_body_over_the_upload_limit_is_413(api, sku, settings, idempotency_key):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    body = order_request_body(
        buyer={"name": "J" * 190, "phone": "1" * 40}, lines=[order_request_body()["lines"][0]] * 40
    )
    headers = {"HTTP_IDEMPOTENCY_KEY": idempotency_key} if idempotency_key else {}

    response = api.post(URL, body, format="json", **headers)

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert not Order.objects.exists()
