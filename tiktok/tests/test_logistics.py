"""TikTok-logistics orders: TikTok ships the package with our handover method and gives the tracking; its
label PDF is fetched and stored, and the console merges a selection into one PDF."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from fulfillment.services import shipment_label
from orders.models import OrderStatus
from tiktok.models import CallOperation, CallStatus, ShippingDocument, TikTokCall
from tiktok.services.documents import documents_merge
from tiktok.tests.test_outbound import calls, packed_tiktok_order

pytestmark = pytest.mark.django_db


def ship_with_tiktok(tiktok, shop, client, capture, staff, method="dropoff"):
    tiktok.control("config", {"shipping_type": "TIKTOK"})
    order, tt = packed_tiktok_order(tiktok, shop, client, capture, staff)
    assert order.tiktok.shipping_type == "TIKTOK"
    with capture(execute=True):
        shipment_label(
            order_id=order.pk, carrier="tiktok-shipping", tracking_number="", handover_method=method, actor=staff
        )
    order.refresh_from_db()
    return order, tt


def test_a_tiktok_logistics_order_is_shipped_by_tiktok_and_its_label_stored(
    tiktok,
    shop,
    client,
    django_capture_on_commit_callbacks,
    staff,
):
    order, tt = ship_with_tiktok(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    (ship,) = [c for c in calls(tiktok, "/fulfillment/202309/packages/") if c["method"] == "POST"]
    assert ship["body"] == {"handover_method": "DROP_OFF"}
    detail = tiktok.control(f"orders/{tt['id']}", method="GET")
    assert order.status == OrderStatus.SHIPPED
    assert (
        order.shipment.tracking_number == detail["tracking_number"] and order.shipment.carrier.code == "tiktok-shipping"
    )
    fetch = TikTokCall.objects.get(order=order, operation=CallOperation.FETCH_LABEL)
    assert fetch.status == CallStatus.SUCCEEDED
    document = ShippingDocument.objects.get(order=order, document_type="SHIPPING_LABEL")
    reader = PdfReader(io.BytesIO(bytes(document.pdf)))
    assert len(reader.pages) == 1 and detail["tracking_number"] in reader.pages[0].extract_text()


def test_two_labels_merge_into_one_pdf_with_a_page_each(
    tiktok,
    shop,
    client,
    django_capture_on_commit_callbacks,
    staff,
):
    first, _ = ship_with_tiktok(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    second, _ = ship_with_tiktok(tiktok, shop, client, django_capture_on_commit_callbacks, staff, method="pickup")
    pdf, problems = documents_merge(order_ids=[first.pk, second.pk], document_type="SHIPPING_LABEL")
    assert problems == []
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) == 2
    assert first.shipment.tracking_number in pages[0].extract_text()
    assert second.shipment.tracking_number in pages[1].extract_text()
    # Packing slips come from TikTok on demand.
    slips, _ = documents_merge(order_ids=[first.pk, second.pk], document_type="PACKING_SLIP")
    assert len(PdfReader(io.BytesIO(slips)).pages) == 2
    assert "Packing Slip" in PdfReader(io.BytesIO(slips)).pages[0].extract_text()


def test_a_seller_shipped_order_cannot_use_tiktoks_logistics(
    tiktok,
    shop,
    client,
    django_capture_on_commit_callbacks,
    staff,
):
    from core.errors import TransitionRefused

    order, _ = packed_tiktok_order(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    with pytest.raises(TransitionRefused) as refused:
        shipment_label(
            order_id=order.pk, carrier="tiktok-shipping", tracking_number="", handover_method="pickup", actor=staff
        )
    assert refused.value.code == "seller_shipping"
