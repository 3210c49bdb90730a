"""The warehouse console in a real browser: a Warehouse staff member works an order from the
to-ship queue to labelled (Chromium via Playwright; see the root conftest.py)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.tests.factories import PartnerFactory, SellerFactory, make_staff_user
from fulfillment.models import Shipment
from fulfillment.tests.factories import CarrierFactory, make_sku, tracking_number
from orders.models import Order, OrderStatus
from orders.tests.factories import make_ready_order

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("allow_orm_beside_playwright")]

PASSWORD = "pass-word-123"


@pytest.fixture
def warehouse_floor(transactional_db):
    seller = SellerFactory(code="ACME", name="Acme Goods")
    partner = PartnerFactory(name="Connector A", sellers=[seller])
    make_sku(seller=seller, code="TSHIRT-M", on_hand=10)
    make_sku(seller=seller, code="MUG", on_hand=10)
    CarrierFactory(code="acmeship", name="AcmeShip")
    make_staff_user("Warehouse", username="picker")
    order = make_ready_order(
        partner=partner,
        seller=seller,
        lines=[("TSHIRT-M", 2), ("MUG", 1)],
        placed_at=timezone.now() - timedelta(hours=3),
    )
    later = make_ready_order(
        partner=partner, seller=seller, lines=[("MUG", 1)], placed_at=timezone.now() - timedelta(hours=2)
    )
    return {"order": order, "later": later}


def select_and_run(page: Page, order_id: int, action_label: str) -> None:
    page.get_by_label(f"Select order {order_id}").check()
    page.get_by_label("Action:").select_option(label=action_label)
    page.get_by_role("button", name="Go").click()


def test_staff_works_an_order_from_the_queue_to_labelled(page: Page, live_server, warehouse_floor):
    order = warehouse_floor["order"]
    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Username").fill("picker")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("link", name=re.compile(r"To pick")).click()
    expect(page.get_by_role("heading", name="Warehouse console")).to_be_visible()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-order", str(order.pk))  # the earlier ship-by first

    select_and_run(page, order.pk, "Start picking (and print the pick list)")
    expect(page.get_by_role("heading", name="Pick list")).to_be_visible()
    expect(page.locator('tr[data-sku="TSHIRT-M"] .qty')).to_have_text("2")
    expect(page.get_by_text(f"Order {order.pk}: picking started.")).to_be_visible()
    page.get_by_role("link", name="Back to the warehouse console").click()

    expect(page.locator(f'tr[data-order="{order.pk}"]')).to_contain_text("parcel: picking")
    page.get_by_role("link", name=re.compile(r"^To ship")).click()  # the whole queue, not just "to pick"
    select_and_run(page, order.pk, "Mark packed")
    expect(page.get_by_text(f"Order {order.pk}: packed.")).to_be_visible()
    expect(page.locator(f'tr[data-order="{order.pk}"]')).to_contain_text("parcel: packed")

    select_and_run(page, order.pk, "Label with carrier and tracking…")
    expect(page.get_by_role("heading", name="Label parcels")).to_be_visible()
    page.get_by_label("Carrier:").select_option(label="AcmeShip")
    page.get_by_label(f"Tracking number for order {order.pk}").fill("WRONG-1")
    page.get_by_role("button", name="Label 1 parcel").click()
    expect(page.get_by_text("is not a valid AcmeShip tracking number")).to_be_visible()
    page.get_by_label(f"Tracking number for order {order.pk}").fill(tracking_number(123))
    page.get_by_role("button", name="Label 1 parcel").click()

    expect(page.get_by_text(f"Order {order.pk}: labelled AcmeShip {tracking_number(123)}")).to_be_visible()
    expect(page.locator(f'tr[data-order="{order.pk}"]')).to_have_count(0)  # it left the to-ship queue
    page.get_by_role("link", name=re.compile(r"Awaiting collection")).click()
    row = page.locator(f'tr[data-order="{order.pk}"]')
    expect(row).to_contain_text("Shipped")
    expect(row).to_contain_text(tracking_number(123))

    assert Order.objects.get(pk=order.pk).status == OrderStatus.SHIPPED
    assert Shipment.objects.get(order_id=order.pk).tracking_number == tracking_number(123)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/fulfillment/shipment/console/",
        "/admin/fulfillment/shipment/console/?stage=needs_stock",
        "/admin/orders/order/",
    ],
)
def test_the_console_fits_a_phone(page: Page, live_server, warehouse_floor, path):
    """On a 390 px wide phone nothing widens the page: wide tables scroll inside their own box."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/admin/login/?next={path}")
    page.get_by_label("Username").fill("picker")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("networkidle")

    width = page.evaluate("document.documentElement.scrollWidth")

    assert width <= 390, f"{path} is {width} px wide on a 390 px phone"
