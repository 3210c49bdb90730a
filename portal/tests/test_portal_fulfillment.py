"""The seller portal's fulfilment pages: shipment, tracking and SLA clocks on an order, at-risk and
late badges in the list, and the Performance page's figures (exact, on a known data set)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.tests.factories import PartnerFactory, SellerFactory, SellerUserFactory
from fulfillment.tests.factories import CarrierFactory, make_labelled_order, make_sku, tracking_number
from orders.tests.factories import make_ready_order
from portal.performance import seller_performance

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PERFORMANCE_URL = reverse("portal:performance")


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def carrier(db):
    return CarrierFactory(code="acmeship", name="AcmeShip", tracking_url="https://track.example.com/{tracking_number}")


@pytest.fixture
def seller_client(client, seller):
    client.force_login(SellerUserFactory(seller=seller))
    return client


def _labelled(partner, seller, carrier, n, *, placed_ago, shipped_ago):
    """An order placed ``placed_ago`` before NOW and labelled ``shipped_ago`` before NOW."""
    with time_machine.travel(NOW - shipped_ago, tick=False):
        return make_labelled_order(
            partner=partner,
            seller=seller,
            lines=[("TSHIRT-M", 1)],
            carrier=carrier,
            number=tracking_number(n),
            placed_at=NOW - placed_ago,
        )


@pytest.fixture
def history(clock, partner, seller, sku, carrier):
    """Four shipped orders over 90 days (two late: labelled 96h after placing, past the 72h ship-by),
    one not shipped yet, one shipped more than 90 days ago, and another seller's late one."""
    d, h = timedelta(days=1), timedelta(hours=1)
    sku.stock.on_hand = 100
    sku.stock.save(update_fields=["on_hand"])
    _labelled(partner, seller, carrier, 1, placed_ago=2 * d, shipped_ago=1 * d)  # 24h, on time: 7/30/90
    _labelled(partner, seller, carrier, 2, placed_ago=5 * d, shipped_ago=1 * d)  # 96h, late: 7/30/90
    _labelled(partner, seller, carrier, 3, placed_ago=20 * d, shipped_ago=16 * d)  # 96h, late: 30/90
    _labelled(partner, seller, carrier, 4, placed_ago=60 * d, shipped_ago=60 * d - 10 * h)  # 10h: 90
    _labelled(partner, seller, carrier, 5, placed_ago=100 * d, shipped_ago=95 * d)  # outside every period
    with time_machine.travel(NOW - 1 * h, tick=False):
        make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], placed_at=NOW - 4 * h)

    other = SellerFactory(code="OTHER", name="Other Shop")
    other_partner = PartnerFactory(name="Connector B", sellers=[other])
    make_sku(seller=other, code="TSHIRT-M", on_hand=5)
    _labelled(other_partner, other, carrier, 6, placed_ago=6 * d, shipped_ago=1 * d)  # late, not ours
    return other


def test_performance_figures_are_exact_per_period(history, seller):
    figures = {p.days: p for p in seller_performance(seller=seller)}

    assert (figures[7].shipped, figures[7].late) == (2, 1)
    assert figures[7].late_rate == 0.5
    assert figures[7].average_time_to_ship == timedelta(hours=60)
    assert (figures[30].shipped, figures[30].late) == (3, 2)
    assert figures[30].average_time_to_ship == timedelta(hours=72)
    assert (figures[90].shipped, figures[90].late) == (4, 2)
    assert figures[90].late_rate == 0.5
    assert figures[90].average_time_to_ship == timedelta(hours=56.5)


def test_performance_page_shows_the_figures_and_a_chart(history, seller_client):
    with CaptureQueriesContext(connection) as queries:
        response = seller_client.get(PERFORMANCE_URL)
    assert response.status_code == 200
    periods = {p["days"]: p for p in response.context["periods"]}
    assert (periods[7]["late_rate"], periods[7]["hours_to_ship"]) == (50.0, 60.0)
    assert (periods[30]["late_rate"], periods[30]["hours_to_ship"]) == (66.7, 72.0)
    assert (periods[90]["late_rate"], periods[90]["hours_to_ship"]) == (50.0, 56.5)
    html = response.content.decode()
    assert "66.7%" in html and "56.5 h" in html and "<svg" in html and "cdn" not in html.lower()
    weeks = response.context["weeks"]
    assert len(weeks) == 13 and sum(w.shipped for w in weeks) == 4 and sum(w.late for w in weeks) == 2
    assert weeks[-1].shipped == 2  # both orders labelled yesterday
    # Session, user, seller, the Requests badge's count, two aggregates: never a query per order.
    assert len(queries) <= 7


def test_performance_is_tenant_scoped(history, client):
    other = history
    client.force_login(SellerUserFactory(seller=other))
    periods = {p["days"]: p for p in client.get(PERFORMANCE_URL).context["periods"]}
    assert (periods[7]["shipped"], periods[7]["late"], periods[90]["shipped"]) == (1, 1, 1)


def test_performance_with_nothing_shipped_shows_dashes(clock, seller_client):
    response = seller_client.get(PERFORMANCE_URL)
    assert response.status_code == 200
    assert all(p["late_rate"] is None and p["hours_to_ship"] is None for p in response.context["periods"])
    assert "Performance" in response.content.decode()


def test_performance_page_needs_a_seller_login(client, db):
    response = client.get(PERFORMANCE_URL)
    assert response.status_code == 302 and reverse("portal:login") in response.url


def test_order_detail_shows_shipment_tracking_link_and_clocks(clock, partner, seller, sku, carrier, seller_client):
    order = make_labelled_order(
        partner=partner,
        seller=seller,
        lines=[("TSHIRT-M", 1)],
        carrier=carrier,
        number=tracking_number(42),
        placed_at=NOW - timedelta(hours=80),
    )
    response = seller_client.get(reverse("portal:order_detail", args=[order.pk]))
    html = response.content.decode()
    assert "AcmeShip" in html
    assert f'href="https://track.example.com/{tracking_number(42)}"' in html
    clocks = {c.label: c.state for c in response.context["clocks"]}
    assert clocks == {
        "Ready to ship": "met_late",
        "Tracking number": "met_late",
        "Carrier collection": "ok",
        "Delivery": "ok",
    }
    assert "Met late" in html


def test_order_list_and_detail_flag_at_risk_and_late(clock, partner, seller, sku, seller_client):
    late = make_ready_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], placed_at=NOW - timedelta(hours=73)
    )
    at_risk = make_ready_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], placed_at=NOW - timedelta(hours=61)
    )
    fine = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], placed_at=NOW - timedelta(hours=2))

    rows = {row["order"].pk: row["sla"] for row in seller_client.get(reverse("portal:orders")).context["rows"]}
    assert rows == {late.pk: ("late", "Late"), at_risk.pk: ("at_risk", "At risk"), fine.pk: None}

    detail = seller_client.get(reverse("portal:order_detail", args=[at_risk.pk]))
    assert detail.context["sla"] == ("at_risk", "At risk")
    assert "The warehouse has not started on this order yet." in detail.content.decode()


def test_another_sellers_shipped_order_is_not_found(clock, partner, seller, sku, carrier, seller_client):
    other = SellerFactory(code="OTHER")
    other_partner = PartnerFactory(sellers=[other])
    make_sku(seller=other, code="MUG", on_hand=3)
    theirs = make_labelled_order(
        partner=other_partner, seller=other, lines=[("MUG", 1)], carrier=carrier, number=tracking_number(77)
    )
    assert seller_client.get(reverse("portal:order_detail", args=[theirs.pk])).status_code == 404
    assert tracking_number(77) not in seller_client.get(reverse("portal:orders")).content.decode()
