"""The seller portal in a real browser: log in, list, switch tab, open an order (Chromium via Playwright).

Browsers cannot be downloaded by ``playwright install`` everywhere we run, so
these tests drive the distribution's Chromium package instead.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.tests.factories import PartnerFactory, SellerFactory, SellerUserFactory
from fulfillment.tests.factories import make_sku
from orders.tests.factories import make_order

# The launch arguments (the distribution's Chromium) and the ORM/Playwright fixture live in the root conftest.py.
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("allow_orm_beside_playwright")]

PASSWORD = "pass-word-123"


@pytest.fixture
def shop(transactional_db):
    """A seller with a portal login and three orders, plus another seller's order that must stay invisible."""
    seller = SellerFactory(code="ACME", name="Acme Goods")
    partner = PartnerFactory(name="Connector A", sellers=[seller])
    make_sku(seller=seller, code="TSHIRT-M", on_hand=10)
    SellerUserFactory(username="acme-clerk", seller=seller)
    now = timezone.now()
    unpaid = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], external_id="TT-UNPAID-1")
    held = make_order(
        partner=partner,
        seller=seller,
        lines=[("TSHIRT-M", 2, 2450)],
        external_id="TT-HELD-1",
        placed_at=now - timedelta(minutes=10),
        paid_at=now - timedelta(minutes=5),
        buyer={"name": "Jane Doe", "phone": "+1 555 010 1234", "email": "jane@example.com"},
    )
    short = make_order(partner=partner, seller=seller, lines=[("GHOST-SKU", 1)], external_id="TT-SHORT-1")

    other = SellerFactory(code="OTHER", name="Other Shop")
    other_partner = PartnerFactory(name="Connector B", sellers=[other])
    make_sku(seller=other, code="MUG", on_hand=5)
    make_order(partner=other_partner, seller=other, lines=[("MUG", 1)], external_id="OTHER-SECRET-1")
    return {"unpaid": unpaid, "held": held, "short": short}


def log_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/portal/")
    expect(page).to_have_url(re.compile(r"/portal/login/\?next="))
    page.get_by_label("Username").fill("acme-clerk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Orders", level=1)).to_be_visible()


def test_seller_logs_in_lists_orders_and_opens_one(page: Page, live_server, shop):
    log_in(page, live_server.url)

    orders = page.locator("table.orders tbody")
    for external_id in ("TT-UNPAID-1", "TT-HELD-1", "TT-SHORT-1"):
        expect(orders).to_contain_text(external_id)
    expect(page.locator("body")).not_to_contain_text("OTHER-SECRET-1")
    expect(orders.get_by_text("Stock exception")).to_have_count(1)

    tabs = page.get_by_role("navigation", name="Order status")
    tabs.get_by_role("link", name=re.compile(r"^On hold")).click()
    expect(page).to_have_url(re.compile(r"status=on_hold"))
    expect(tabs.get_by_role("link", name=re.compile(r"^On hold"))).to_have_attribute("aria-current", "page")
    expect(orders.locator("tr")).to_have_count(1)
    expect(orders).to_contain_text("Hold ends in")

    held = shop["held"]
    page.get_by_role("link", name=f"#{held.pk}").click()
    expect(page.get_by_role("heading", name=f"Order #{held.pk}")).to_be_visible()
    expect(page.get_by_test_id("buyer-name")).to_have_text("J*** D***")
    expect(page.locator("body")).not_to_contain_text("Jane Doe")
    expect(page.locator("table.lines tfoot")).to_contain_text("$49.00")

    page.get_by_role("link", name="Back to orders").click()
    expect(page).to_have_url(re.compile(r"/portal/\?status=on_hold$"))

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_layout_fits_a_phone_screen(browser, live_server, shop):
    """On a narrow screen nothing scrolls sideways and the order table turns into cards."""
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    try:
        log_in(page, live_server.url)
        expect(page.locator("table.orders thead")).to_have_css("position", "absolute")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

        page.get_by_role("link", name=f"#{shop['short'].pk}").click()
        expect(page.get_by_role("heading", name="Stock exception")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        context.close()
