"""The seller portal's Returns page and the return and cancellation rates on the Performance page (R14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from accounts.tests.factories import PartnerFactory, SellerFactory, SellerUserFactory
from backoffice.timers import process_due_timers
from core.actors import Actor
from fulfillment.tests.factories import CarrierFactory, make_sku
from orders.services import order_cancel
from orders.tests.factories import make_order, make_ready_order
from portal.performance import seller_performance
from returns.models import ReturnType
from returns.services.returns import return_reject, return_replace
from returns.tests.return_support import delivered_order, request_return, staff, to_inspected

pytestmark = pytest.mark.django_db
RETURNS_URL = reverse("portal:returns")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def carrier(db):
    return CarrierFactory(code="backpost", name="Back Post")


@pytest.fixture
def seller_client(client, seller):
    client.force_login(SellerUserFactory(seller=seller))
    return client


def test_the_returns_page_lists_open_returns_first_and_all_on_demand(seller_client, partner, seller, sku, carrier):
    order = delivered_order(partner, seller, carrier, lines=[("TSHIRT-M", 3)])
    waiting = request_return(order, type=ReturnType.RETURN_AND_REFUND, units={"TSHIRT-M": 1})
    refused = request_return(order, type=ReturnType.REFUND_ONLY, units={"TSHIRT-M": 1})
    return_reject(return_id=refused.pk, reason="not eligible", actor=staff("Support"))
    replaced = to_inspected(request_return(order, type=ReturnType.REPLACEMENT, units={"TSHIRT-M": 1}), carrier)
    replaced = return_replace(return_id=replaced.pk, actor=staff("Support"))

    page = seller_client.get(RETURNS_URL)
    assert page.status_code == 200
    assert [row.ret.pk for row in page.context["rows"]] == [waiting.pk]
    html = page.content.decode()
    assert "Waiting for your answer" in html and "Approved automatically in 47 hours" in html
    assert reverse("portal:requests") in html

    everything = seller_client.get(RETURNS_URL, {"show": "all"})
    rows = {row.ret.pk: row for row in everything.context["rows"]}
    assert set(rows) == {waiting.pk, refused.pk, replaced.pk}
    assert rows[refused.pk].phrase == "Rejected"
    html = everything.content.decode()
    assert (
        f'Replacement order <a href="{reverse("portal:order_detail", args=[replaced.replacement_order_id])}">' in html
    )
    assert "not eligible" in html
    assert [tab["count"] for tab in everything.context["tabs"]] == [1, 3]


def test_another_sellers_returns_never_show(client, partner, seller, sku, carrier):
    order = delivered_order(partner, seller, carrier, lines=[("TSHIRT-M", 1)])
    request_return(order, type=ReturnType.REFUND_ONLY)
    other = SellerFactory(code="GLOBEX")
    client.force_login(SellerUserFactory(seller=other))

    page = client.get(RETURNS_URL, {"show": "all"})

    assert page.status_code == 200 and page.context["rows"] == []
    assert "No returns yet." in page.content.decode()
    assert client.get(reverse("portal:returns")).context["tabs"][0]["count"] == 0


def test_the_returns_page_needs_a_seller_login(client, db):
    answer = client.get(RETURNS_URL)
    assert answer.status_code == 302 and reverse("portal:login") in answer.url


def test_cancellation_and_return_rates_are_exact_per_period(partner, seller, sku, carrier, seller_client):
    """In the last 7 days: 5 orders placed, of which 1 the buyer never paid (left out), 1 cancelled by the seller;
    4 delivered, 1 with a return, 1 with a rejected return. 20 days ago: 1 delivered and returned."""
    make_sku(seller=seller, code="CAP", on_hand=50)
    with time_machine.travel(NOW - timedelta(days=20), tick=False):
        old = delivered_order(partner, seller, carrier, lines=[("CAP", 1)], placed_at=NOW - timedelta(days=20, hours=3))
        request_return(old, type=ReturnType.REFUND_ONLY)
    with time_machine.travel(NOW - timedelta(days=3), tick=False) as clock:
        delivered = [
            delivered_order(
                partner, seller, carrier, lines=[("TSHIRT-M", 1)], placed_at=NOW - timedelta(days=3, hours=2)
            )
            for _ in range(2)
        ]
        unpaid = make_order(partner=partner, seller=seller, lines=[("CAP", 1)], placed_at=NOW - timedelta(days=3))
        cancelled = make_ready_order(
            partner=partner, seller=seller, lines=[("CAP", 1)], placed_at=NOW - timedelta(days=3, hours=2)
        )
        order_cancel(order_id=cancelled.pk, by="seller", reason="out of stock", actor=Actor.for_partner(partner))
        request_return(delivered[0], type=ReturnType.RETURN_AND_REFUND)
        rejected = request_return(delivered[1], type=ReturnType.RETURN_AND_REFUND)
        return_reject(return_id=rejected.pk, reason="used", actor=staff("Support"))
        clock.move_to(NOW - timedelta(days=1))
        process_due_timers()  # the unpaid order cancels itself
        unpaid.refresh_from_db()
        assert unpaid.cancelled_by == "system"
    # Another seller's orders never count.
    globex = SellerFactory(code="GLOBEX")
    make_sku(seller=globex, code="TSHIRT-M", on_hand=5)
    with time_machine.travel(NOW - timedelta(days=2), tick=False):
        delivered_order(PartnerFactory(sellers=[globex]), globex, carrier, lines=[("TSHIRT-M", 1)])

    with time_machine.travel(NOW, tick=False):
        figures = {p.days: p for p in seller_performance(seller=seller)}
        page = seller_client.get(reverse("portal:performance"))

    assert (figures[7].placed, figures[7].cancelled) == (3, 1)
    assert (figures[7].delivered, figures[7].returned) == (2, 1)
    assert (figures[7].cancellation_rate, figures[7].return_rate) == (1 / 3, 0.5)
    assert (figures[30].placed, figures[30].cancelled, figures[30].delivered, figures[30].returned) == (4, 1, 3, 2)
    periods = {p["days"]: p for p in page.context["periods"]}
    assert (periods[7]["cancellation_rate"], periods[7]["return_rate"]) == (33.3, 50.0)
    assert (periods[30]["cancellation_rate"], periods[30]["return_rate"]) == (25.0, 66.7)
    html = page.content.decode()
    assert "Cancellation rate" in html and "33.3%" in html and "66.7%" in html
