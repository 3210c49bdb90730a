"""In a real browser: the warehouse labels TikTok-logistics orders in the console (TikTok ships them and
gives the tracking) and prints their TikTok labels merged into one PDF (Chromium via Playwright)."""

import io
import re

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from accounts.tests.factories import make_staff_user
from orders.models import Order, OrderStatus
from payments.services.bank import bank_transfer_record
from tiktok.models import ShippingDocument

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("allow_orm_beside_playwright")]

PASSWORD = "pass-word-123"


@pytest.fixture
def tiktok_floor(transactional_db, tiktok, shop, client, staff, django_capture_on_commit_callbacks):
    """Two paid TikTok-logistics orders, picked and packed, waiting for their labels."""
    from fulfillment.services import shipment_pack, shipment_start_picking

    tiktok.control("config", {"shipping_type": "TIKTOK"})
    orders = []
    for _ in range(2):
        tt = tiktok.order(shop.tiktok_id, status="AWAITING_SHIPMENT", lines=[{"seller_sku": "TSHIRT-M", "quantity": 1}])
        tiktok.deliver(client)
        order = Order.objects.get(external_id=tt["id"])
        bank_transfer_record(order_id=order.pk, reference=f"BANK-{order.pk}", actor=staff)
        shipment_start_picking(order_id=order.pk, actor=staff)
        shipment_pack(order_id=order.pk, actor=staff)
        orders.append(order)
    make_staff_user("Warehouse", username="picker")
    return orders


def test_the_warehouse_labels_tiktok_orders_and_prints_their_labels_as_one_pdf(page: Page, live_server, tiktok_floor):
    first, second = tiktok_floor
    page.goto(f"{live_server.url}/admin/fulfillment/shipment/console/?step=packed")
    page.get_by_label("Username").fill("picker")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    for order in (first, second):
        page.get_by_label(f"Select order {order.pk}").check()
    page.get_by_label("Action:").select_option(label="Label with carrier and tracking…")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_role("heading", name="Label parcels")).to_be_visible()
    page.get_by_label("Carrier:").select_option(label="TikTok Shipping")
    page.get_by_label("Handover:").select_option(label="Drop-off (we take it to the carrier)")
    page.get_by_role("button", name="Label 2 parcels").click()

    # TikTok shipped both and gave their tracking numbers: they wait for collection now.
    page.get_by_role("link", name=re.compile(r"Awaiting collection")).click()
    for order in (first, second):
        order.refresh_from_db()
        assert order.status == OrderStatus.SHIPPED
        expect(page.locator(f'tr[data-order="{order.pk}"]')).to_contain_text(order.shipment.tracking_number)
        page.get_by_label(f"Select order {order.pk}").check()
    assert ShippingDocument.objects.filter(order__in=[first, second], document_type="SHIPPING_LABEL").count() == 2

    page.get_by_label("Action:").select_option(label="Print TikTok shipping labels (one PDF)")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Go").click()
    download = download_info.value
    assert download.suggested_filename.startswith("tiktok-labels-") and download.suggested_filename.endswith(".pdf")
    pages = PdfReader(io.BytesIO(open(download.path(), "rb").read())).pages
    assert len(pages) == 2
    texts = [p.extract_text() for p in pages]
    assert {first.shipment.tracking_number, second.shipment.tracking_number} == {
        next(t for t in (first.shipment.tracking_number, second.shipment.tracking_number) if t in text)
        for text in texts
    }
