"""In a real browser (Chromium via Playwright): the Unpaid page with an order whose buyer asked to cancel,
and downloading the statement."""

import csv
import io
import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from accounts.tests.factories import SellerUserFactory, UserFactory
from core.actors import Actor
from payments.models import Payment, PaymentStatus
from payments.services import bank_transfer_record
from payments.tests.conftest import add_card, awaiting_order
from returns.services.cancellations import cancellation_request_create

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("allow_orm_beside_playwright")]

PASSWORD = "pass-word-123"


@pytest.fixture
def clerk(shop):
    return SellerUserFactory(username="payer-clerk", seller=shop[1])


def log_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/portal/login/")
    page.get_by_label("Username").fill("payer-clerk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Orders", level=1)).to_be_visible()


def test_the_unpaid_page_leaves_an_order_with_a_pending_request_out_until_the_seller_confirms(
    page: Page, live_server, shop, clerk, emulator
):
    partner, seller, _ = shop
    add_card(emulator, seller)
    plain = awaiting_order(shop, quantity=1)
    asked = awaiting_order(shop, quantity=2)
    cancellation_request_create(order_id=asked.pk, actor=Actor.for_partner(partner), reason="changed_mind")
    log_in(page, live_server.url)

    nav = page.get_by_role("navigation", name="Portal")
    expect(nav.get_by_test_id("requests-badge")).to_have_text("1")
    nav.get_by_role("link", name="Unpaid").click()
    row = page.locator(f'tr[data-order="{asked.pk}"]')
    expect(row.get_by_test_id("pending-cancellation")).to_contain_text("Buyer asked to cancel")
    page.get_by_label("Select all orders").check()
    expect(page.get_by_label(f"Select order {plain.pk}")).to_be_checked()
    expect(page.get_by_label(f"Select order {asked.pk}")).not_to_be_checked()  # never in "select all"
    expect(page.get_by_test_id("selection-total")).to_have_text("$12.50")

    # Ticking it by hand is not enough: without the confirmation it is left out of the total and not charged.
    page.get_by_label(f"Select order {asked.pk}").check()
    expect(page.get_by_test_id("selection-total")).to_have_text("$12.50")
    page.get_by_label(re.compile("Charge selected orders whose buyer asked to cancel anyway")).check()
    expect(page.get_by_test_id("selection-total")).to_have_text("$37.50")
    page.get_by_label(re.compile("Charge selected orders whose buyer asked to cancel anyway")).uncheck()
    expect(page.get_by_test_id("selection-total")).to_have_text("$12.50")
    page.locator("[data-pay-button]").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Payment")
    payment = Payment.objects.get()
    assert (payment.status, payment.amount) == (PaymentStatus.SUCCEEDED, 1250)
    assert list(payment.allocations.values_list("order_id", flat=True)) == [plain.pk]
    expect(page.locator("body")).to_contain_text("The buyer asked to cancel this order")


def test_the_seller_downloads_the_statement(page: Page, live_server, shop, clerk):
    finance = UserFactory(username="finance-fiona", is_staff=True)
    finance.groups.add(Group.objects.get(name="Finance"))
    order = awaiting_order(shop, quantity=2)
    bank_transfer_record(order_id=order.pk, reference="BT-2024-1", actor=Actor.for_user(finance))
    log_in(page, live_server.url)

    page.get_by_role("navigation", name="Portal").get_by_role("link", name="Statement").click()
    expect(page.get_by_test_id("statement")).to_contain_text("$25.00")
    expect(page.get_by_test_id("entries")).to_contain_text("BT-2024-1")
    with page.expect_download() as caught:
        page.get_by_test_id("statement-download").click()
    download = caught.value

    assert re.fullmatch(r"statement-PAYER-\d{8}-\d{4}\.csv", download.suggested_filename)
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert rows[0] == ["month", "paid by card", "paid by bank transfer", "paid in total", "refunded", "net"]
    assert rows[1][1:] == ["0.00", "25.00", "25.00", "0.00", "25.00"]
