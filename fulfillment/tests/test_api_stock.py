"""GET /api/v1/stock/: what each of the partner's SKUs can still sell."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import SellerFactory
from fulfillment.tests.factories import SKUFactory, make_sku
from orders.tests.factories import make_order

URL = "/api/v1/stock/"


def rows(api, query=None):
    response = api.get(URL, query or {})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_available_is_on_hand_minus_reserved(api, partner, seller, sku):
    make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 3)])

    assert rows(api) == [
        {"seller": "ACME", "sku": "TSHIRT-M", "name": sku.name, "on_hand": 10, "reserved": 3, "available": 7}
    ]


def test_cancelling_gives_the_units_back(api, partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 4)])
    api.post(f"/api/v1/orders/{order.pk}/cancel/", {"by": "seller", "reason": "damaged"}, format="json")

    assert rows(api)[0]["available"] == 10


def test_only_the_partners_sellers_are_listed_and_the_seller_filter_narrows(api, partner, seller, sku):
    beta = SellerFactory(code="BETA")
    partner.sellers.add(beta)
    make_sku(seller=beta, code="MUG", on_hand=2)
    make_sku(seller=SellerFactory(code="STRANGER"), code="SECRET", on_hand=99)

    assert sorted((r["seller"], r["sku"]) for r in rows(api)) == [("ACME", "TSHIRT-M"), ("BETA", "MUG")]
    assert [r["sku"] for r in rows(api, {"seller": "BETA"})] == ["MUG"]
    assert [r["sku"] for r in rows(api, {"sku": "TSHIRT-M"})] == ["TSHIRT-M"]
    assert rows(api, {"seller": "STRANGER"}) == []


def test_a_sku_without_a_stock_row_shows_nothing_available(api, seller):
    SKUFactory(seller=seller, code="NEW", name="New mug")

    assert rows(api) == [
        {"seller": "ACME", "sku": "NEW", "name": "New mug", "on_hand": 0, "reserved": 0, "available": 0}
    ]


def test_pages_cover_every_sku_once_with_constant_queries(api, seller, settings):
    settings.API_PAGE_SIZE = 4
    skus = [make_sku(seller=seller, code=f"SKU-{i:02}", on_hand=i) for i in range(10)]

    seen, url, query_counts = [], URL, []
    while url:
        with CaptureQueriesContext(connection) as queries:
            response = api.get(url)
        query_counts.append(len(queries))
        seen += [r["sku"] for r in response.json()["results"]]
        url = response.json()["next"]

    assert seen == [s.code for s in skus]
    assert len(set(query_counts)) == 1


def test_bad_filter_is_a_field_error(api):
    response = api.get(URL, {"seller": "x" * 100})

    assert response.status_code == 400
    assert "seller" in response.json()["errors"]
