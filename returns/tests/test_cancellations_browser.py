"""The seller approves a buyer's cancellation request in a real browser (Chromium via Playwright), and sees
the order cancelled and the wholesale payment refunded through the Stripe emulator (localstripe)."""

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.tests.factories import SellerUserFactory
from core.actors import Actor
from payments.models import PaymentStatus, Refund, RefundStatus
from payments.services import checkout_orders
from payments.tests.conftest import SYSTEM, add_card, awaiting_order
from returns.models import CancellationRequest, CancellationStatus
from returns.services.cancellations import cancellation_request_create

# The launch arguments (the distribution's Chromium) and the ORM/Playwright fixture live in the root conftest.py.
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("allow_orm_beside_playwright")]

PASSWORD = "pass-word-123"


@pytest.fixture
def requested(transactional_db, shop, emulator):
    """A paid order past its hold whose buyer asked to cancel, and the seller's portal login."""
    partner, seller, _ = shop
    SellerUserFactory(username="payer-clerk", seller=seller)
    order = awaiting_order(shop, quantity=2)
    add_card(emulator, seller)
    payment = checkout_orders(seller=seller, order_ids=[order.pk], actor=SYSTEM).payment
    assert payment.status == PaymentStatus.SUCCEEDED
    request, _ = cancellation_request_create(
        order_id=order.pk, actor=Actor.for_partner(partner), reason="ordered the wrong size"
    )
    return request


def test_seller_approves_a_cancellation_and_sees_the_order_cancelled_and_refunded(page: Page, live_server, requested):
    order = requested.order
    page.goto(f"{live_server.url}/portal/login/")
    page.get_by_label("Username").fill("payer-clerk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Orders", level=1)).to_be_visible()

    page.get_by_role("navigation", name="Portal").get_by_role("link", name="Requests").click()
    expect(page.get_by_role("heading", name="Requests", level=1)).to_be_visible()
    card = page.get_by_test_id("cancellation-request")
    expect(card).to_have_count(1)
    expect(card).to_contain_text(f"#{order.pk}")
    expect(card).to_contain_text("ordered the wrong size")
    expect(card.get_by_test_id("countdown")).to_have_text(re.compile(r"Approved automatically in 4[78] hours"))

    card.get_by_role("button", name="Approve cancellation").click()
    page.get_by_role("button", name="Yes, cancel the order").click()

    messages = page.get_by_test_id("messages")
    expect(messages).to_contain_text(f"Cancellation approved: order #{order.pk} is cancelled")
    expect(messages).to_contain_text("Your wholesale payment for it has been refunded.")
    expect(page.get_by_text("No cancellation requests are waiting for you.")).to_be_visible()

    page.goto(f"{live_server.url}/portal/orders/{order.pk}/")
    expect(page.locator(".status-block .badge--cancelled")).to_have_text("Cancelled")
    expect(page.get_by_test_id("wholesale-refund")).to_have_text("Refunded to you")
    expect(page.locator(".timeline")).to_contain_text("Cancelled at the buyer's request")

    requested.refresh_from_db()
    assert requested.status == CancellationStatus.APPROVED
    assert not CancellationRequest.objects.filter(status=CancellationStatus.PENDING).exists()
    refund = Refund.objects.get()
    assert (refund.amount, refund.status) == (2500, RefundStatus.SUCCEEDED)
