"""The seller portal through Django's test client: access, tenant isolation, the list and the detail page."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.template import Context, Template
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import PartnerFactory, SellerFactory, SellerUserFactory, UserFactory
from backoffice.timers import process_due_timers
from core.actors import Actor
from fulfillment.tests.factories import make_sku
from orders.models import Order, OrderStatus
from orders.services import order_cancel
from orders.tests.factories import make_order
from payments.services import bank_transfer_record
from portal.orders import PAGE_SIZE
from portal.selectors import order_status_counts

ORDERS_URL = reverse("portal:orders")
LOGIN_URL = reverse("portal:login")

BUYER = {"name": "Jane Doe", "phone": "+1 555 010 1234", "email": "jane.doe@example.com"}
ADDRESS = {
    "line1": "12 Elm Street",
    "line2": "Apt 4",
    "city": "Austin",
    "region": "TX",
    "postal_code": "73301",
    "country": "US",
}


def detail_url(order):
    return reverse("portal:order_detail", args=[order.pk])


def order_links(response) -> list[str]:
    """The order numbers linked from a list page, in page order."""
    return re.findall(r'class="order-link" href="[^"]*">#(\d+)<', response.content.decode())


@pytest.fixture
def seller_user(seller):
    return SellerUserFactory(username="acme-clerk", seller=seller)


@pytest.fixture
def portal(client, seller_user):
    client.force_login(seller_user)
    return client


@pytest.fixture
def other_seller_order(db):
    """An order of a different seller, pushed by a different partner."""
    other = SellerFactory(code="OTHER", name="Other Shop")
    other_partner = PartnerFactory(name="Connector B", sellers=[other])
    make_sku(seller=other, code="MUG", on_hand=5)
    return make_order(partner=other_partner, seller=other, lines=[("MUG", 1)], external_id="OTHER-SECRET-1")


@pytest.fixture
def orders_by_status(partner, seller, sku, seller_user):
    """One of the seller's orders in each of four statuses, made through the services."""
    now = timezone.now()
    pending = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], external_id="TT-PENDING")
    on_hold = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], external_id="TT-HOLD", paid_at=now)
    awaiting = make_order(
        partner=partner,
        seller=seller,
        lines=[("TSHIRT-M", 2)],
        external_id="TT-AWAIT",
        placed_at=now - timedelta(hours=3),
        paid_at=now - timedelta(hours=2),
    )
    process_due_timers()  # ends the hold of the order paid two hours ago
    cancelled = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], external_id="TT-CANCEL")
    order_cancel(order_id=cancelled.pk, by="seller", reason="damaged in storage", actor=Actor.for_user(seller_user))
    orders = {"pending": pending, "on_hold": on_hold, "awaiting": awaiting, "cancelled": cancelled}
    for order in orders.values():
        order.refresh_from_db()
    assert [o.status for o in orders.values()] == ["pending_payment", "on_hold", "awaiting_checkout", "cancelled"]
    return orders


# --- access ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", [ORDERS_URL, "/portal/orders/1/"])
def test_pages_require_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN_URL}?next={url}"


def test_seller_user_logs_in_and_lands_on_orders(client, seller_user):
    response = client.post(LOGIN_URL, {"username": "acme-clerk", "password": "pass-word-123"})
    assert response.status_code == 302
    assert response["Location"] == ORDERS_URL
    assert client.get(ORDERS_URL).status_code == 200


def test_wrong_password_is_refused(client, seller_user):
    response = client.post(LOGIN_URL, {"username": "acme-clerk", "password": "nope"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "enter a correct username and password" in response.content.decode()


@pytest.mark.django_db
def test_user_without_seller_cannot_log_in(client):
    UserFactory(username="warehouse-bob", is_staff=True)
    response = client.post(LOGIN_URL, {"username": "warehouse-bob", "password": "pass-word-123"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    content = response.content.decode()
    assert "not linked to a seller" in content
    assert reverse("admin:index") in content


@pytest.mark.django_db
def test_logged_in_user_without_seller_gets_no_seller_page(client):
    """A staff session from the admin reaching the portal is told why there is nothing here."""
    client.force_login(UserFactory(username="support-amy", is_staff=True))
    for url in (ORDERS_URL, "/portal/orders/1/"):
        response = client.get(url)
        assert response.status_code == 403
        assert "This account has no seller" in response.content.decode()


def test_logout_needs_post_and_ends_the_session(portal):
    assert portal.get(reverse("portal:logout")).status_code == 405
    response = portal.post(reverse("portal:logout"))
    assert response.status_code == 302
    assert response["Location"] == LOGIN_URL
    assert portal.get(ORDERS_URL).status_code == 302


def test_login_and_logout_forms_are_csrf_protected(seller_user):
    client = Client(enforce_csrf_checks=True)
    assert client.post(LOGIN_URL, {"username": "acme-clerk", "password": "pass-word-123"}).status_code == 403
    page = client.get(LOGIN_URL)
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()
    client.force_login(seller_user)
    assert client.post(reverse("portal:logout")).status_code == 403


# --- tenant isolation -------------------------------------------------------------------------


def test_list_shows_only_own_orders(portal, orders_by_status, other_seller_order):
    response = portal.get(ORDERS_URL)
    content = response.content.decode()
    assert sorted(map(int, order_links(response))) == sorted(o.pk for o in orders_by_status.values())
    assert "OTHER-SECRET-1" not in content
    # The other seller's order is not even counted.
    assert response.context["tabs"][0]["count"] == 4


def test_another_sellers_order_is_not_found(portal, other_seller_order):
    assert portal.get(detail_url(other_seller_order)).status_code == 404


def test_search_cannot_reach_another_seller(portal, orders_by_status, other_seller_order):
    for q in ("OTHER-SECRET-1", "MUG", str(other_seller_order.pk)):
        response = portal.get(ORDERS_URL, {"q": q})
        assert order_links(response) == [], q


# --- tabs, search, pagination --------------------------------------------------------------------


def test_tabs_cover_every_status_with_counts(portal, orders_by_status):
    response = portal.get(ORDERS_URL)
    tabs = {tab["label"]: tab["count"] for tab in response.context["tabs"]}
    assert list(tabs) == [
        "All",
        "Pending payment",
        "On hold",
        "Awaiting checkout",
        "Ready to fulfil",
        "In fulfilment",
        "Shipped",
        "In transit",
        "Delivered",
        "Completed",
        "Cancelled",
    ]
    assert tabs["All"] == 4
    assert tabs["Pending payment"] == tabs["On hold"] == tabs["Awaiting checkout"] == tabs["Cancelled"] == 1
    assert tabs["Ready to fulfil"] == tabs["Shipped"] == 0


def test_lost_tab_appears_only_when_a_parcel_is_lost(portal, orders_by_status):
    assert "Lost" not in [tab["label"] for tab in portal.get(ORDERS_URL).context["tabs"]]
    # No service moves an order to "lost" yet (the carrier-events issue adds it); set it directly.
    Order.objects.filter(pk=orders_by_status["awaiting"].pk).update(status=OrderStatus.LOST)
    response = portal.get(ORDERS_URL, {"status": "lost"})
    lost_tab = response.context["tabs"][-1]
    assert (lost_tab["label"], lost_tab["count"], lost_tab["active"]) == ("Lost", 1, True)
    assert order_links(response) == [str(orders_by_status["awaiting"].pk)]


def test_status_counts_take_one_query(seller, orders_by_status, django_assert_num_queries):
    with django_assert_num_queries(1):
        counts = order_status_counts(seller=seller)
    assert counts["all"] == 4
    assert counts[OrderStatus.ON_HOLD] == 1
    assert counts[OrderStatus.LOST] == 0


def test_tab_filters_by_status(portal, orders_by_status):
    response = portal.get(ORDERS_URL, {"status": "on_hold"})
    assert order_links(response) == [str(orders_by_status["on_hold"].pk)]
    active = [tab for tab in response.context["tabs"] if tab["active"]]
    assert [tab["label"] for tab in active] == ["On hold"]
    assert 'aria-current="page"' in response.content.decode()


def test_unknown_status_shows_all(portal, orders_by_status):
    response = portal.get(ORDERS_URL, {"status": "bogus"})
    assert response.status_code == 200
    assert len(order_links(response)) == 4


@pytest.mark.parametrize(
    "query, expected",
    [("TT-AWA", "awaiting"), ("tt-hold", "on_hold"), ("#{pk}", "cancelled"), ("{pk}", "cancelled")],
)
def test_search_by_external_id_and_order_number(portal, orders_by_status, query, expected):
    order = orders_by_status[expected]
    response = portal.get(ORDERS_URL, {"q": query.format(pk=order.pk)})
    assert order_links(response) == [str(order.pk)]


def test_search_by_sku_lists_each_order_once(portal, partner, seller, orders_by_status):
    make_sku(seller=seller, code="HAT-RED", on_hand=5)
    hats = make_order(partner=partner, seller=seller, lines=[("HAT-RED", 1), ("HAT-RED", 2)], external_id="TT-HATS")
    response = portal.get(ORDERS_URL, {"q": "hat-red"})
    assert order_links(response) == [str(hats.pk)]
    assert response.context["tabs"][0]["count"] == 1


def test_search_counts_follow_the_search_and_survive_tab_links(portal, orders_by_status):
    response = portal.get(ORDERS_URL, {"q": "TT-HOLD"})
    tabs = {tab["label"]: tab for tab in response.context["tabs"]}
    assert tabs["All"]["count"] == 1
    assert tabs["On hold"]["count"] == 1
    assert tabs["Pending payment"]["count"] == 0
    assert parse_qs(urlsplit(tabs["On hold"]["url"]).query) == {"status": ["on_hold"], "q": ["TT-HOLD"]}
    assert parse_qs(urlsplit(tabs["All"]["url"]).query) == {"q": ["TT-HOLD"]}


def test_search_form_keeps_the_current_tab(portal, orders_by_status):
    content = portal.get(ORDERS_URL, {"status": "cancelled"}).content.decode()
    assert '<input type="hidden" name="status" value="cancelled">' in content


def test_too_long_search_is_reported_and_ignored(portal, orders_by_status):
    response = portal.get(ORDERS_URL, {"q": "x" * 101})
    assert response.status_code == 200
    assert len(order_links(response)) == 4
    assert "at most 100 characters" in response.content.decode()


def test_pagination_keeps_status_and_search(portal, partner, seller, sku):
    start = timezone.now() - timedelta(hours=2)
    for n in range(PAGE_SIZE + 5):
        make_order(
            partner=partner,
            seller=seller,
            lines=[("TSHIRT-M", 1)],
            external_id=f"BULK-{n:02d}",
            placed_at=start + timedelta(minutes=n),
        )
    make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], external_id="SOLO-1")

    first = portal.get(ORDERS_URL, {"status": "pending_payment", "q": "BULK"})
    assert len(order_links(first)) == PAGE_SIZE
    assert first.context["page"].paginator.num_pages == 2
    next_query = parse_qs(urlsplit(first.context["next_url"]).query)
    assert next_query == {"status": ["pending_payment"], "q": ["BULK"], "page": ["2"]}
    assert first.context["next_url"].replace("&", "&amp;") in first.content.decode()

    second = portal.get(first.context["next_url"])
    assert len(order_links(second)) == 5
    assert set(order_links(first)).isdisjoint(order_links(second))
    # Newest first: the last page holds the five oldest orders.
    assert second.context["rows"][-1]["order"].external_id == "BULK-00"
    # Tabs start again at page 1 but keep the search.
    tab_query = parse_qs(urlsplit(second.context["tabs"][0]["url"]).query)
    assert tab_query == {"q": ["BULK"]}


def test_out_of_range_page_shows_the_last_page(portal, orders_by_status):
    response = portal.get(ORDERS_URL, {"page": "99"})
    assert response.status_code == 200
    assert len(order_links(response)) == 4


def test_list_shows_stock_exception_badge_and_money(portal, partner, seller, sku):
    make_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 2, 1999), ("NO-SUCH-SKU", 1, 500)], external_id="TT-EXC"
    )
    content = portal.get(ORDERS_URL).content.decode()
    assert "Stock exception" in content
    assert "$44.98" in content  # 2 × 19.99 + 5.00


def test_list_phrases_deadlines_from_the_clock(portal, partner, seller, sku):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], external_id="TT-UNPAID")
        make_order(
            partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], external_id="TT-PAID", paid_at=timezone.now()
        )
        clock.shift(timedelta(minutes=20))
        content = portal.get(ORDERS_URL).content.decode()
        assert "Buyer must pay within 23\xa0hours" in content
        assert "Hold ends in 40\xa0minutes" in content
        clock.shift(timedelta(hours=2))  # the timer has not run yet
        content = portal.get(ORDERS_URL).content.decode()
        assert "Hold ended 1\xa0hour ago" in content


# --- order detail --------------------------------------------------------------------------------


@pytest.fixture
def exception_order(partner, seller):
    make_sku(seller=seller, code="SCARF", on_hand=1)
    return make_order(
        partner=partner,
        seller=seller,
        external_id="TT-DETAIL",
        buyer=BUYER,
        address=ADDRESS,
        lines=[("SCARF", 3, 1250), ("GHOST-SKU", 1, 999)],
    )


def test_detail_masks_the_buyer(portal, exception_order):
    response = portal.get(detail_url(exception_order))
    assert response.status_code == 200
    content = response.content.decode()
    assert "J*** D***" in content
    assert "***-***-1234" in content
    assert "j***@example.com" in content
    assert "Austin, TX" in content
    for secret in ("Jane", "Doe", "555 010", "jane.doe", "12 Elm Street", "Apt 4", "73301"):
        assert secret not in content, secret


def test_detail_shows_lines_reservations_and_explains_the_stock_exception(portal, exception_order):
    response = portal.get(detail_url(exception_order))
    lines = {line.sku_code: line for line in response.context["lines"]}
    assert (lines["SCARF"].quantity, lines["SCARF"].unit_price, lines["SCARF"].reserved) == (3, 1250, 1)
    assert lines["GHOST-SKU"].reserved is None
    content = response.content.decode()
    assert "Stock exception" in content
    assert "Only 1 of 3 reserved" in content
    assert "not in your catalogue" in content
    assert "$12.50" in content and "$47.49" in content  # unit price; 3 × 12.50 + 9.99


def test_detail_shows_status_marketplace_status_and_deadline(portal, partner, seller, sku):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], paid_at=timezone.now())
        clock.shift(timedelta(minutes=15))
        content = portal.get(detail_url(order)).content.decode()
    assert "On hold" in content
    assert "ON_HOLD" in content
    assert "Hold ends in 45\xa0minutes" in content


def test_detail_history_shows_actor_kinds_not_names(portal, orders_by_status):
    response = portal.get(detail_url(orders_by_status["cancelled"]))
    history = response.context["history"]
    assert [(row.what, row.from_status, row.to_status, row.by) for row in history] == [
        ("Order received", "", "Pending payment", "Marketplace"),
        ("Cancelled", "Pending payment", "Cancelled", "Your team"),
    ]
    assert history[1].reason == "damaged in storage"
    content = response.content.decode()
    assert "Connector A" not in content  # the partner's name is internal
    assert "partner:Connector A" not in content and "seller:acme-clerk" not in content
    assert "released" in content  # the cancelled order's reservation went back to stock


def test_detail_history_hides_staff_usernames(portal, orders_by_status):
    from django.contrib.auth.models import Group

    finance = UserFactory(username="finance-fiona", is_staff=True)
    finance.groups.add(Group.objects.get(name="Finance"))
    order = orders_by_status["awaiting"]
    bank_transfer_record(order_id=order.pk, reference="BANK-991", actor=Actor.for_user(finance))
    response = portal.get(detail_url(order))
    last = response.context["history"][-1]
    assert (last.what, last.from_status, last.to_status, last.by) == (
        "Wholesale payment confirmed",
        "Awaiting checkout",
        "Ready to fulfil",
        "Our staff",
    )
    assert "finance-fiona" not in response.content.decode()


def test_detail_back_link_returns_to_the_same_list_view(portal, orders_by_status):
    order = orders_by_status["on_hold"]
    listing = portal.get(ORDERS_URL, {"status": "on_hold", "q": "TT"})
    row_url = listing.context["rows"][0]["url"]
    back_url = portal.get(row_url).context["back_url"]
    assert parse_qs(urlsplit(back_url).query) == {"status": ["on_hold"], "q": ["TT"]}
    assert urlsplit(row_url).path == detail_url(order)


# --- money filter ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount, currency, expected",
    [
        (123456, "USD", "$1,234.56"),
        (5, "USD", "$0.05"),
        (0, "EUR", "€0.00"),
        (1500, "JPY", "¥1,500"),
        (1999, "CHF", "19.99 CHF"),
        (-250, "USD", "-$2.50"),
        (None, "USD", ""),
    ],
)
def test_money_filter_formats_minor_units(amount, currency, expected):
    with override_settings(CURRENCY=currency):
        assert Template("{% load money %}{{ amount|money }}").render(Context({"amount": amount})) == expected
