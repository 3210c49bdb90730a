"""POST /api/v1/orders/ stays cheap: a fixed number of queries, and the hand-built order response
is exactly what the declared (documented) fields describe, for orders in every state."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from core.actors import Actor
from backoffice.tests.factories import (
    CarrierFactory,
    PartnerFactory,
    SKUFactory,
    SellerFactory,
    make_labelled_order,
    make_order,
    make_ready_order,
    make_sku,
    order_request_body,
    tracking_number,
)
from fulfillment.models import Stock
from orders.api.serializers import OrderOutputSerializer
from orders.api.views import OrderCreateApi
from orders.models import Order
from orders.selectors import order_get
from orders.services import order_cancel

URL = "/api/v1/orders/"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _lines(codes, quantity=1):
    return [{"sku": code, "quantity": quantity, "unit_price": "4.50"} for code in codes]


def test_a_new_order_costs_the_same_few_queries_however_many_lines(api, seller, django_assert_max_num_queries):
    """Key, (savepoint), order with the seller, stock lock with the SKU lookup, lines, reservations,
    stock, audit row, (release). In production the savepoint pair is the transaction's BEGIN and COMMIT."""
    codes = [make_sku(seller=seller, code=f"C-{i}", on_hand=100).code for i in range(20)]

    for count in (1, 20):
        with django_assert_max_num_queries(9):
            response = api.post(URL, order_request_body(lines=_lines(codes[:count])), format="json")
        assert response.status_code == 201
        assert [line["reserved"] for line in response.json()["lines"]] == [1] * count


def test_on_postgresql_a_new_order_is_written_in_two_round_trips(api, seller):
    """Key, (savepoint), [order with the seller, stock lock, line keys], [lines, reservations, stock,
    audit row], (release): the two bracketed batches are all intake sends."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("statements are batched on PostgreSQL only")
    codes = [make_sku(seller=seller, code=f"R-{i}", on_hand=100).code for i in range(3)]

    with CaptureQueriesContext(connection) as captured:
        response = api.post(URL, order_request_body(lines=_lines(codes)), format="json")

    assert response.status_code == 201
    assert len(captured) == 5, [q["sql"][:80] for q in captured]


def _generic(order) -> dict:
    """What DRF renders from the declared fields (the schema's contract) for ``order``."""
    return serializers.Serializer.to_representation(OrderOutputSerializer(), order)


def _orders_in_every_state(partner, seller):
    make_sku(seller=seller, code="A", on_hand=100)
    make_sku(seller=seller, code="SHORT", on_hand=1)
    placed = NOW - timedelta(hours=3)
    carrier = CarrierFactory()
    orders = {
        "pending, unknown SKU and short stock": make_order(
            partner=partner, seller=seller, placed_at=placed, lines=[("A", 2, 1999), ("NOPE", 1, 0), ("SHORT", 3, 1)]
        ),
        "on hold": make_order(partner=partner, seller=seller, lines=[("A", 1)], placed_at=placed, paid_at=placed),
        "ready, seller paid": make_ready_order(partner=partner, seller=seller, lines=[("A", 1)]),
        "labelled, stock consumed": make_labelled_order(
            partner=partner, seller=seller, lines=[("A", 1)], carrier=carrier, number=tracking_number(1)
        ),
        "cancelled, stock released": make_order(partner=partner, seller=seller, lines=[("A", 1)], placed_at=placed),
    }
    order_cancel(
        order_id=orders["cancelled, stock released"].pk, by="seller", reason="damaged", actor=Actor.for_partner(partner)
    )
    return orders


def test_the_order_response_is_exactly_the_declared_fields_in_every_state(partner, seller, clock):
    for state, order in _orders_in_every_state(partner, seller).items():
        # Loaded as every order endpoint loads it, once per rendering so neither sees the other's caches.
        fast = OrderOutputSerializer(order_get(partner=partner, order_id=order.pk)).data
        declared = _generic(order_get(partner=partner, order_id=order.pk))
        assert JSONRenderer().render(fast) == JSONRenderer().render(declared), state


def test_a_list_page_renders_every_order_as_the_declared_fields(api, partner, seller, clock):
    orders = _orders_in_every_state(partner, seller)

    listed = {o["id"]: o for o in api.get(URL).json()["results"]}

    assert set(listed) == {o.pk for o in orders.values()}
    for state, order in orders.items():
        declared = JSONRenderer().render(_generic(order_get(partner=partner, order_id=order.pk)))
        assert JSONRenderer().render(listed[order.pk]) == declared, state


@pytest.mark.parametrize("buyer_payment", ["pending", "paid"])
def test_the_201_answer_is_what_reading_the_order_back_gives(api, partner, seller, clock, buyer_payment):
    make_sku(seller=seller, code="A", on_hand=2)
    placed = NOW - timedelta(minutes=30)
    paid = {"paid_at": (placed + timedelta(minutes=1)).isoformat()} if buyer_payment == "paid" else {}
    body = order_request_body(
        placed_at=placed.isoformat(), buyer_payment=buyer_payment, lines=_lines(["A", "NOPE", "A"], 2), **paid
    )

    created = api.post(URL, body, format="json")

    assert created.status_code == 201
    order = created.json()
    assert order["status"] == ("on_hold" if buyer_payment == "paid" else "pending_payment")
    assert [line["reserved"] for line in order["lines"]] == [2, 0, 0]
    assert order["stock_exception"] is True
    assert created.content == JSONRenderer().render(_generic(order_get(partner=partner, order_id=order["id"])))
    assert api.get(f"{URL}{order['id']}/").content == created.content


def test_a_sku_without_a_stock_row_is_linked_to_its_line_but_reserves_nothing(api, seller):
    sku = SKUFactory(seller=seller, code="NEW-IN")  # known to the catalogue, never stocked

    response = api.post(URL, order_request_body(lines=_lines(["NEW-IN"])), format="json")

    assert response.status_code == 201
    assert response.json()["stock_exception"] is True
    assert response.json()["lines"][0]["reservation"] is None
    assert Order.objects.get().lines.get().sku == sku


def test_lines_of_one_sku_draw_on_its_stock_in_turn(api, seller):
    sku = make_sku(seller=seller, code="PAIR", on_hand=3)

    response = api.post(URL, order_request_body(lines=_lines(["PAIR", "PAIR"], 2)), format="json")

    assert [line["reserved"] for line in response.json()["lines"]] == [2, 1]
    assert response.json()["stock_exception"] is True
    assert Stock.objects.get(sku=sku).reserved == 3


def test_validation_carries_nothing_from_one_request_to_the_next(seller):
    """The intake serializer's field tree is built once and shared: errors and data stay per request."""
    bad = order_request_body(lines=[{"sku": "A", "quantity": 0, "unit_price": "1.00"}], external_id="")
    good = order_request_body()

    first = OrderCreateApi.InputSerializer(data=bad)
    second = OrderCreateApi.InputSerializer(data=good)
    third = OrderCreateApi.InputSerializer(data={**good, "external_id": "OTHER", "seller": "ELSE"})

    assert not first.is_valid()
    assert set(first.errors) == {"external_id", "lines"}
    assert second.is_valid(), second.errors
    assert third.is_valid(), third.errors
    assert second.validated_data["seller"] == seller.code
    assert second.validated_data["lines"][0]["unit_price"] == 1999
    assert (third.validated_data["seller"], third.validated_data["external_id"]) == ("ELSE", "OTHER")
