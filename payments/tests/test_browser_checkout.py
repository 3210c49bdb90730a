"""Paying in a real browser (Chromium via Playwright) against localstripe and its Stripe.js.

localstripe's Stripe.js mounts plain inputs (number, exp_month, exp_year, cvc,
postal_code) instead of Stripe's iframe, and answers the bank's 3-D Secure
check with a window offering "Complete authentication" or "Fail authentication".
"""

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.tests.factories import SellerUserFactory
from orders.models import OrderStatus
from payments.models import Payment, PaymentStatus
from payments.selectors import seller_cards
from payments.tests.conftest import TEST_CARDS, awaiting_order, held_order

# The launch arguments (the distribution's Chromium) and the ORM/Playwright fixture live in the root conftest.py.
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


def enter_card(page: Page, container: str, number: str) -> None:
    """Type a card into the card field Stripe.js mounted in ``container``."""
    field = page.locator(container)
    field.get_by_placeholder("number").fill(number)
    field.get_by_placeholder("exp_month").fill("12")
    field.get_by_placeholder("exp_year").fill("34")
    field.get_by_placeholder("cvc").fill("123")
    field.get_by_placeholder("postal_code").fill("73301")


def test_seller_adds_a_card_turns_on_auto_checkout_and_pays_an_order_by_hand(
    page: Page, live_server, shop, clerk, emulator
):
    waiting = awaiting_order(shop, quantity=1)  # Auto Checkout pays this one when it is turned on
    on_hold = held_order(shop, quantity=2)  # still in its hold: the seller pays it by hand
    log_in(page, live_server.url)

    page.get_by_role("navigation", name="Portal").get_by_role("link", name="Payment").click()
    expect(page.get_by_role("heading", name="Payment", level=1)).to_be_visible()
    page.get_by_role("button", name="Turn Auto Checkout on").click()
    expect(page.get_by_test_id("messages").get_by_role("alert")).to_contain_text(
        "Add a card first: Auto Checkout charges your default card."
    )

    enter_card(page, "#card-element", TEST_CARDS["ok"])
    page.get_by_role("button", name="Save card").click()
    expect(page.get_by_test_id("messages")).to_contain_text(
        "Visa ending in 4242, expires 12/2034 is saved as your default card."
    )
    saved = page.get_by_test_id("saved-cards")
    expect(saved).to_contain_text("Visa •••• 4242")
    expect(saved).to_contain_text("Expires 12/2034")
    expect(saved).to_contain_text("Default")

    page.get_by_role("button", name="Turn Auto Checkout on").click()
    expect(page.get_by_test_id("messages")).to_contain_text("Auto Checkout is on.")
    expect(page.get_by_test_id("auto-checkout-state")).to_have_text("On")

    page.get_by_role("navigation", name="Portal").get_by_role("link", name="Unpaid").click()
    rows = page.locator("table.orders tbody tr")
    expect(rows).to_have_count(1)  # the order awaiting checkout was paid by Auto Checkout
    expect(rows.first).to_have_attribute("data-order", str(on_hold.pk))
    expect(rows.first).to_contain_text("Auto Checkout charges it when the hold ends.")
    pay_button = page.get_by_role("button", name=re.compile(r"^Pay"))
    expect(pay_button).to_be_disabled()  # nothing selected yet

    page.get_by_label(f"Select order {on_hold.pk}").check()
    expect(page.get_by_test_id("selection-total")).to_have_text("$25.00")
    expect(pay_button).to_have_text("Pay $25.00")
    expect(pay_button).to_be_enabled()
    pay_button.click()

    expect(page.get_by_test_id("payment-outcome")).to_have_text("Paid")
    result = page.locator(f'[data-testid="checkout-results"] tr[data-order="{on_hold.pk}"]')
    expect(result).to_contain_text("Paid: it goes to the warehouse when the hold ends.")
    page.get_by_role("link", name="Unpaid orders").first.click()
    expect(page.get_by_text("Nothing to pay.")).to_be_visible()

    on_hold.refresh_from_db()
    waiting.refresh_from_db()
    assert on_hold.seller_paid_at is not None and on_hold.status == OrderStatus.ON_HOLD
    assert waiting.status == OrderStatus.READY_TO_FULFILL
    assert sorted(p.trigger for p in Payment.objects.filter(status=PaymentStatus.SUCCEEDED)) == [
        "auto_checkout",
        "manual",
    ]


def test_seller_pays_with_a_new_card_and_confirms_with_the_bank(page: Page, live_server, shop, clerk, emulator):
    _, seller, _ = shop
    first, second = held_order(shop, quantity=1), held_order(shop, quantity=3)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/portal/unpaid/")

    page.get_by_label("Select all orders").check()
    expect(page.get_by_test_id("selection-total")).to_have_text("$50.00")
    # No card on file: the card field is open, as the only way to pay.
    enter_card(page, "[data-new-card]", TEST_CARDS["needs_authentication"])
    page.get_by_role("button", name="Pay $50.00").click()
    # Saving this card needs the bank's approval first (localstripe's 3-D Secure window)...
    page.get_by_role("button", name="Complete authentication").click()

    # ...and so does every charge of it.
    expect(page.get_by_test_id("payment-outcome")).to_have_text("Needs your confirmation")
    expect(page.get_by_test_id("messages")).to_contain_text("Visa ending in 3155, expires 12/2034 is saved.")
    page.get_by_role("button", name="Confirm with your bank").click()
    page.get_by_role("button", name="Complete authentication").click()

    expect(page.get_by_test_id("messages")).to_contain_text("Payment confirmed: $50.00 paid.")
    expect(page.get_by_test_id("payment-outcome")).to_have_text("Paid")
    for order in (first, second):
        order.refresh_from_db()
        assert order.seller_paid_at is not None
    [card] = seller_cards(seller=seller)
    assert (card.last4, card.is_default) == ("3155", True)
