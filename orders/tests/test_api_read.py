"""GET /api/v1/orders/ and /orders/{id}/: filters, cursor pages, and a query count that does not grow."""

import base64
import json
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import SellerFactory
from core.actors import Actor
from fulfillment.tests.factories import make_sku
from orders.services import order_cancel
from orders.tests.factories import make_order

URL = "/api/v1/orders/"


def walk(api, url=URL):
    """Follow ``next`` links from ``url``; return every page's results in order."""
    pages = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        pages.append([o["id"] for o in response.json()["results"]])
        url = response.json()["next"]
    return pages


def test_detail_returns_the_order(api, partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 2, 1250)], external_id="TT-9")

    response = api.get(f"{URL}{order.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["external_id"], body["status"]) == (order.pk, "TT-9", "pending_payment")
    assert body["payment_due_at"] is not None
    assert body["lines"] == [
        {
            "id": order.lines.get().pk,
            "sku": "TSHIRT-M",
            "quantity": 2,
            "unit_price": "12.50",
            "reserved": 2,
            "reservation": {"quantity": 2, "released_at": None, "consumed_at": None},
        }
    ]


def test_detail_of_a_missing_order_is_404(api, sku):
    for order_id in ("999999", "9" * 30):
        response = api.get(f"{URL}{order_id}/")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_list_filters(api, partner, seller, sku):
    other_seller = SellerFactory(code="BETA")
    partner.sellers.add(other_seller)
    make_sku(seller=other_seller, code="MUG")
    with time_machine.travel(timezone.now() - timedelta(hours=3), tick=False):
        old = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], external_id="OLD")
    paid = make_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], external_id="PAID", paid_at=timezone.now()
    )
    beta = make_order(partner=partner, seller=other_seller, lines=[("MUG", 1)], external_id="BETA-1")

    def ids(query):
        response = api.get(URL, query)
        assert response.status_code == 200, response.content
        return {o["id"] for o in response.json()["results"]}

    assert ids({}) == {old.pk, paid.pk, beta.pk}
    assert ids({"status": "on_hold"}) == {paid.pk}
    assert ids({"status": "pending_payment"}) == {old.pk, beta.pk}
    assert ids({"seller": "BETA"}) == {beta.pk}
    assert ids({"seller": "ACME", "status": "pending_payment"}) == {old.pk}
    assert ids({"external_id": "PAID"}) == {paid.pk}
    assert ids({"external_id": "NOPE"}) == set()
    since = (timezone.now() - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert ids({"updated_since": since}) == {paid.pk, beta.pk}


def test_list_is_most_recently_updated_first(api, partner, seller, sku):
    start = timezone.now() - timedelta(hours=1)
    orders = []
    for minutes in range(3):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            orders.append(make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)]))
    # Changing the oldest order moves it to the front.
    order_cancel(order_id=orders[0].pk, by="buyer", reason="", actor=Actor.for_partner(partner))

    assert walk(api) == [[orders[0].pk, orders[2].pk, orders[1].pk]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "paid"}, "status"),
        ({"updated_since": "last tuesday"}, "updated_since"),
        ({"seller": "A" * 40}, "seller"),
        ({"external_id": "TT\x00"}, "external_id"),
    ],
)
def test_bad_filters_are_field_errors(api, query, field):
    response = api.get(URL, query)

    assert response.status_code == 400
    assert field in response.json()["errors"]


def _cursor(values):
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",
        "AAAA",
        _cursor("x"),
        _cursor([]),
        _cursor(["2024-01-01T00:00:00+00:00"]),
        _cursor(["not a date", 1]),
        _cursor(["2024-01-01T00:00:00", 1]),
        _cursor(["2024-01-01T00:00:00+00:00", "x"]),
        _cursor(["2024-01-01T00:00:00+00:00", None]),
        _cursor(["2024-01-01T00:00:00+00:00", True]),
        _cursor([{"a": 1}, 1]),
        _cursor(["2024-01-01T00:00:00+00:00", 10**40]),
        base64.urlsafe_b64encode(b"[" * 3000).decode(),
    ],
)
def test_a_forged_cursor_is_a_field_error(api, partner, seller, sku, cursor):
    make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])

    response = api.get(URL, {"cursor": cursor})

    assert response.status_code == 400, response.content
    assert "cursor" in response.json()["errors"]


def test_cursor_pages_cover_every_order_once_even_when_timestamps_tie(api, partner, seller, sku, settings):
    """Seven orders changed in the same instant (a bulk import) still page out exactly once each."""
    settings.API_PAGE_SIZE = 3
    with time_machine.travel(timezone.now(), tick=False):
        orders = [make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)]) for _ in range(7)]
    assert len({o.updated_at for o in orders}) == 1

    pages = walk(api)

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [pk for page in pages for pk in page] == sorted((o.pk for o in orders), reverse=True)


def test_cursor_pages_keep_the_filters(api, partner, seller, sku, settings):
    settings.API_PAGE_SIZE = 2
    paid = [
        make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], paid_at=timezone.now()) for _ in range(3)
    ]
    make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])

    pages = walk(api, f"{URL}?status=on_hold")

    assert sorted(pk for page in pages for pk in page) == sorted(o.pk for o in paid)


def test_list_query_count_does_not_grow_with_the_page(api, partner, seller, sku, settings):
    """Lines and reservations are prefetched for the whole page: 5 orders and 50 cost the same queries."""
    settings.API_PAGE_SIZE = 50

    def list_queries(count):
        while partner.orders.count() < count:
            make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1), ("UNKNOWN", 1)])
        with CaptureQueriesContext(connection) as queries:
            response = api.get(URL)
        assert len(response.json()["results"]) == count
        return len(queries)

    assert list_queries(5) == list_queries(50)
