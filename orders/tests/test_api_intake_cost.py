"""POST /api/v1/orders/ stays cheap: a fixed number of queries whatever the number of lines, and
answers what reading the order back gives, for orders in every state."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.actors import Actor
from fulfillment.models import Stock
from fulfillment.tests.factories import CarrierFactory, SKUFactory, make_labelled_order, make_sku, tracking_number
from orders.models import Order
from orders.services import order_cancel
from orders.tests.factories import make_order, make_ready_order, order_request_body

URL = "/api/v1/orders/"
# The README quotes this figure (architecture: intake). One of them asks whether a marketplace shows the
# reserved SKUs' stock (TikTok's linked SKUs, R17), since reserving changes what it may sell.
QUERIES_PER_NEW_ORDER = 17
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _lines(codes, quantity=1):
    return [{"sku": code, "quantity": quantity, "unit_price": "4.50"} for code in codes]


def _intake_queries(api, lines) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = api.post(URL, order_request_body(lines=lines), format="json")
    assert response.status_code == 201
    assert [line["reserved"] for line in response.json()["lines"]] == [1] * len(lines)
    return [query["sql"] for query in captured]


def test_a_new_order_costs_the_same_queries_however_many_lines(api, seller):
    """Key, seller, the order, SKUs, lines (one INSERT), stock lock, reservations (one INSERT), stock
    (one UPDATE), audit row, then the answer read back: nothing grows with the lines."""
    codes = [make_sku(seller=seller, code=f"C-{i}", on_hand=100).code for i in range(20)]

    one = _intake_queries(api, _lines(codes[:1]))
    twenty = _intake_queries(api, _lines(codes))

    assert len(one) == len(twenty) == QUERIES_PER_NEW_ORDER, [q[:70] for q in twenty]


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


def test_a_list_page_renders_every_order_as_its_own_page_does(api, partner, seller, clock):
    orders = _orders_in_every_state(partner, seller)

    listed = {o["id"]: o for o in api.get(URL).json()["results"]}

    assert set(listed) == {o.pk for o in orders.values()}
    for state, order in orders.items():
        assert listed[order.pk] == api.get(f"{URL}{order.pk}/").json(), state


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
