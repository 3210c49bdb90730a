"""The ``checkout`` block of the partner API's order response."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders.tests.factories import make_order
from payments.services import checkout_orders
from payments.tests.conftest import SYSTEM, add_card

pytestmark = pytest.mark.django_db
URL = "/api/v1/orders/"


def _held(partner, seller):
    paid_at = timezone.now() - timedelta(minutes=5)
    return make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], placed_at=paid_at, paid_at=paid_at)


def test_orders_show_their_checkout_state(api, partner, seller, sku, emulator):
    add_card(emulator, seller)
    unpaid = _held(partner, seller)
    paid = _held(partner, seller)
    payment = checkout_orders(seller=seller, order_ids=[paid.pk], actor=SYSTEM).payment

    body = api.get(f"{URL}{paid.pk}/").json()
    assert body["checkout"]["status"] == "paid"
    assert body["checkout"]["payment_id"] == payment.pk
    assert body["checkout"]["paid_at"] is not None
    assert api.get(f"{URL}{unpaid.pk}/").json()["checkout"] == {"status": "unpaid", "paid_at": None, "payment_id": None}
    listed = {o["id"]: o["checkout"]["status"] for o in api.get(URL).json()["results"]}
    assert listed == {unpaid.pk: "unpaid", paid.pk: "paid"}


def test_the_checkout_block_costs_one_query_for_the_whole_page(api, partner, seller, sku, emulator, settings):
    settings.API_PAGE_SIZE = 50
    add_card(emulator, seller)

    def list_queries(count):
        while partner.orders.count() < count:
            order = _held(partner, seller)
            checkout_orders(seller=seller, order_ids=[order.pk], actor=SYSTEM)
        with CaptureQueriesContext(connection) as queries:
            response = api.get(URL)
        assert [o["checkout"]["status"] for o in response.json()["results"]] == ["paid"] * count
        return len(queries)

    assert list_queries(2) == list_queries(8)
