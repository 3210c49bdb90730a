"""The order lists cost the same number of queries with many orders as with one of each kind, and their
counts stop at their bound ("99+", "more than ..."), so a million orders cost what a thousand do.

``bench/lists.py`` measures the time at 1M orders; these tests pin what keeps it flat.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import console.site
import core.paginators
import fulfillment.selectors
import portal.orders
import portal.selectors
from accounts.tests.factories import SellerUserFactory, make_staff_user
from core.paginators import BoundedCountPaginator, EstimatedCountPaginator, bounded_count, bounded_label
from fulfillment.tests.factories import CarrierFactory, make_labelled_order, make_sku, tracking_number
from orders.models import Order, OrderStatus
from orders.tests.factories import make_order, make_ready_order

pytestmark = pytest.mark.django_db

ORDERS = "/admin/orders/order/"


@pytest.fixture
def carrier(db):
    return CarrierFactory()


@pytest.fixture
def add_orders(partner, seller, carrier):
    """``add_orders(n)``: n more orders of each kind the lists show: pending payment, ready to fulfil,
    labelled (awaiting collection), and pending with a stock exception."""
    make_sku(seller=seller, code="BULK-1", on_hand=1000)
    made = {"n": 0}

    def add(n: int) -> None:
        for _ in range(n):
            made["n"] += 1
            make_order(partner=partner, seller=seller, lines=[("BULK-1", 1), ("BULK-1", 2)])
            make_ready_order(partner=partner, seller=seller, lines=[("BULK-1", 1)])
            make_labelled_order(
                partner=partner,
                seller=seller,
                lines=[("BULK-1", 1)],
                carrier=carrier,
                number=tracking_number(made["n"]),
            )
            make_order(partner=partner, seller=seller, lines=[("NO-SUCH-SKU", 1)])

    return add


def _client_for(client, who: str, seller, api):
    if who == "api":
        return api
    if who == "seller":
        client.force_login(SellerUserFactory(username="acme-clerk", seller=seller))
    else:
        client.force_login(make_staff_user(*who.split("+")))
    return client


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


PAGES = [
    ("admin order list", "Support", ORDERS),
    ("admin order list by status", "Support", f"{ORDERS}?status__exact=pending_payment"),
    ("warehouse console, to ship", "Warehouse", "console"),
    ("warehouse console, collection", "Warehouse", "console?stage=collection"),
    ("warehouse console, needs stock", "Warehouse", "console?stage=needs_stock"),
    ("admin index", "Warehouse+Support+Finance", "/admin/"),
    ("portal orders", "seller", "portal"),
    ("portal orders, a tab", "seller", "portal?status=pending_payment"),
    ("API orders", "api", "/api/v1/orders/"),
]


@pytest.mark.parametrize(("page", "who", "url"), PAGES, ids=[p[0] for p in PAGES])
def test_page_queries_do_not_grow_with_the_orders(client, api, seller, add_orders, page, who, url):
    url = url.replace("console", reverse("admin:fulfillment_console"), 1) if url.startswith("console") else url
    url = url.replace("portal", reverse("portal:orders"), 1) if url.startswith("portal") else url
    client = _client_for(client, who, seller, api)
    add_orders(1)
    _queries(client, url)  # the first request fills per-process caches (content types, sessions)
    few = _queries(client, url)
    add_orders(4)
    assert Order.objects.count() == 20
    assert _queries(client, url) == few


# --- bounded counts ------------------------------------------------------------------------


def test_bounded_count_reads_no_further_than_the_bound(add_orders):
    add_orders(1)  # 4 orders
    with CaptureQueriesContext(connection) as queries:
        assert bounded_count(Order.objects.all(), 2) == 3
    assert "LIMIT 3" in queries[0]["sql"]
    assert "ORDER BY" not in queries[0]["sql"]  # the count needs no sort, whatever the model's ordering
    assert bounded_count(Order.objects.all(), 10) == 4
    assert (bounded_label(3, 2), bounded_label(2, 2), bounded_label(0, 99)) == ("2+", "2", "0")


def test_bounded_paginator_pages_up_to_the_bound_and_says_so(add_orders):
    add_orders(2)  # 8 orders
    paginator = BoundedCountPaginator(Order.objects.order_by("pk"), 2, bound=5)
    assert (paginator.count, paginator.count_is_bounded, paginator.num_pages) == (5, True, 3)
    assert [o.pk for o in paginator.page(3).object_list] == list(
        Order.objects.order_by("pk").values_list("pk", flat=True)[4:5]
    )

    exact = BoundedCountPaginator(Order.objects.all(), 2, bound=8)
    assert (exact.count, exact.count_is_bounded) == (8, False)


def test_estimated_paginator_falls_back_to_the_bounded_count_without_an_estimate(add_orders, monkeypatch):
    add_orders(1)
    if connection.vendor == "postgresql":  # SQLite has no estimate at all: the fallback is the default there
        monkeypatch.setattr(core.paginators, "table_estimate", lambda queryset: None)
    paginator = EstimatedCountPaginator(Order.objects.all(), 2, bound=2)
    assert (paginator.count, paginator.count_is_estimate, paginator.count_is_bounded) == (2, False, True)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_class.reltuples is PostgreSQL's")
def test_estimated_paginator_takes_postgresqls_estimate_for_an_unfiltered_list(add_orders):
    add_orders(2)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Order._meta.db_table}")
    unfiltered = EstimatedCountPaginator(Order.objects.all(), 2, bound=3)
    assert (unfiltered.count, unfiltered.count_is_estimate) == (8, True)  # ANALYZE saw every row of a small table
    # A filtered list cannot use the table's estimate: it is counted, up to the bound.
    filtered = EstimatedCountPaginator(Order.objects.filter(status=OrderStatus.PENDING_PAYMENT), 2, bound=3)
    assert (filtered.count, filtered.count_is_estimate, filtered.count_is_bounded) == (3, False, True)


def test_admin_order_list_says_more_than_past_the_bound(client, add_orders, monkeypatch):
    add_orders(1)
    monkeypatch.setattr(EstimatedCountPaginator, "bound", 2)
    monkeypatch.setattr(core.paginators, "table_estimate", lambda queryset: None)
    client.force_login(make_staff_user("Support"))
    response = client.get(ORDERS)  # four orders
    assert response.context["cl"].result_count == 2
    text = response.content.decode()
    assert "more than 2 orders" in text, text[text.find('class="paginator"') - 100 :][:800]


def test_admin_order_list_says_about_with_an_estimate(client, add_orders, monkeypatch):
    add_orders(1)
    monkeypatch.setattr(EstimatedCountPaginator, "bound", 2)
    monkeypatch.setattr(core.paginators, "table_estimate", lambda queryset: 1_000_000)
    client.force_login(make_staff_user("Support"))
    response = client.get(ORDERS)
    assert "about 1,000,000 orders" in response.content.decode()
    assert response.context["cl"].paginator.num_pages == 20_000


def test_portal_tabs_say_99_plus_past_the_bound(client, seller, add_orders, monkeypatch):
    add_orders(1)  # two pending (one with a stock exception), one ready, one shipped
    monkeypatch.setattr(portal.selectors, "TAB_COUNT_BOUND", 1)
    client.force_login(SellerUserFactory(username="acme-clerk", seller=seller))
    response = client.get(reverse("portal:orders"))
    tabs = {tab["label"]: tab["count_label"] for tab in response.context["tabs"]}
    assert (tabs["All"], tabs["Pending payment"], tabs["Ready to fulfil"], tabs["Shipped"]) == ("1+", "1+", "1", "1")
    assert tabs["Completed"] == "0"
    assert '<span class="tab__count">1+</span>' in response.content.decode()


def test_portal_list_pages_up_to_its_bound_and_says_there_are_more(client, seller, add_orders, monkeypatch):
    add_orders(2)  # 8 orders
    monkeypatch.setattr(portal.orders, "PAGE_SIZE", 2)
    monkeypatch.setattr(portal.orders, "LIST_COUNT_BOUND", 4)
    client.force_login(SellerUserFactory(username="acme-clerk", seller=seller))
    response = client.get(reverse("portal:orders"))
    assert response.context["page"].paginator.num_pages == 2
    assert "More than 4 orders" in response.content.decode()
    last = client.get(reverse("portal:orders"), {"page": 2})
    assert 'id="list-bounded"' in last.content.decode()


def test_lost_tile_is_bounded(client, monkeypatch, add_orders):
    add_orders(1)
    Order.objects.filter(status=OrderStatus.SHIPPED).update(status=OrderStatus.LOST)
    Order.objects.filter(status=OrderStatus.READY_TO_FULFILL).update(status=OrderStatus.LOST)
    monkeypatch.setattr(fulfillment.selectors, "LOST_COUNT_BOUND", 1)
    monkeypatch.setattr(console.site, "LOST_COUNT_BOUND", 1)
    client.force_login(make_staff_user("Warehouse"))
    response = client.get("/admin/")
    [lost] = [q for _, _, queues in response.context["team_tiles"] for q in queues if q.label == "Lost"]
    assert lost.display == "1+"


# --- indexes ---------------------------------------------------------------------------------


def _page_queries(seller, partner):
    """The row query of each list page, as the page builds it (sorted, one page long)."""
    import orders.selectors
    from fulfillment.selectors import needs_stock_queryset, to_ship_queue

    return {
        "admin order list": Order.objects.order_by("-placed_at", "-id")[:50],
        "admin order list by status": Order.objects.filter(status=OrderStatus.COMPLETED).order_by("-placed_at", "-id")[
            :50
        ],
        "portal orders": portal.selectors.order_list(seller=seller)[:25],
        "portal orders, a tab": portal.selectors.order_list(seller=seller, status=OrderStatus.COMPLETED)[:25],
        "API orders": orders.selectors.order_list(partner=partner).order_by("-updated_at", "-id")[:51],
        "warehouse to ship": to_ship_queue()[:50],
        "warehouse needs stock": needs_stock_queryset()[:50],
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's plans")
@pytest.mark.parametrize(
    "page",
    [
        "admin order list",
        "admin order list by status",
        "portal orders",
        "portal orders, a tab",
        "API orders",
        "warehouse to ship",
        "warehouse needs stock",
    ],
)
def test_an_index_hands_each_list_its_rows_in_order(seller, partner, page):
    """With sorting and sequential scans priced out, a plan without a Sort node exists only if an index
    matches the list's filter and order: dropping one of the list indexes fails this test."""
    queryset = _page_queries(seller, partner)[page]
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Sort" not in plan, plan
