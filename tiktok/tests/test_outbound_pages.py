"""Where people see the calls to TikTok: the seller's order page and shop health line, the TikTok sync queue
with its retry action, the parked count on the admin index, and TikTok's reject reasons in the forms."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.tests.factories import SellerUserFactory
from fulfillment.services import shipment_label
from returns.models import CancellationRequest
from tiktok.models import CallStatus, TikTokCall
from tiktok.tests.test_outbound import packed_tiktok_order

pytestmark = pytest.mark.django_db


def _refused_label(tiktok, shop, client, capture, staff, carrier):
    carrier.tracking_pattern = r"^[A-Z0-9]{3,40}$"
    carrier.save()
    order, _ = packed_tiktok_order(tiktok, shop, client, capture, staff)
    with capture(execute=True):
        shipment_label(
            order_id=order.pk, carrier="trk", tracking_number="REFUSE1234", handover_method="pickup", actor=staff
        )
    return order


def test_the_seller_sees_each_call_and_its_reason_on_the_order_page_and_the_shop_health(
    tiktok,
    shop,
    client,
    django_capture_on_commit_callbacks,
    staff,
    carrier,
):
    order = _refused_label(tiktok, shop, client, django_capture_on_commit_callbacks, staff, carrier)
    client.force_login(SellerUserFactory(username="acme-clerk", seller=shop.seller))
    page = client.get(reverse("portal:order_detail", args=[order.pk])).content.decode()
    assert "What we told TikTok" in page and "Ship the package" in page and "Refused by TikTok" in page
    assert "21011019" in page and "is invalid for this shipping provider" in page
    assert 'data-testid="label-refused"' in page
    health = client.get(reverse("portal:tiktok")).content.decode()
    assert "Updates to TikTok: 0 failing, 0 parked, 1 refused today; stock up to date" in health


def test_staff_see_refused_and_parked_calls_and_send_one_again(
    tiktok,
    shop,
    client,
    admin_client,
    django_capture_on_commit_callbacks,
    staff,
    carrier,
):
    order = _refused_label(tiktok, shop, client, django_capture_on_commit_callbacks, staff, carrier)
    call = TikTokCall.objects.get(order=order)
    TikTokCall.objects.filter(pk=call.pk).update(status=CallStatus.PARKED)
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert "TikTok sync: parked calls" in index
    queue = admin_client.get(reverse("admin:tiktok_tiktokcall_changelist") + "?queue=attention").content.decode()
    assert "Ship the package" in queue and "21011019" in queue
    detail = admin_client.get(reverse("admin:tiktok_tiktokcall_change", args=[call.pk])).content.decode()
    assert "attempts" in detail.lower() and "REFUSE1234" in detail
    order_page = admin_client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "calls to tiktok" in order_page.lower() and "is invalid for this shipping provider" in order_page
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:tiktok_tiktokcall_changelist"),
            {"action": "retry_selected", "_selected_action": [call.pk]},
        )
    call.refresh_from_db()
    # Sent again: TikTok refuses the same number again, and the refusal is recorded again.
    assert (call.status, call.attempts) == (CallStatus.REJECTED, 2)


def test_tiktoks_reject_reasons_are_offered_in_the_portal_and_the_admin(
    tiktok, shop, client, admin_client, django_capture_on_commit_callbacks, staff
):
    order, tt = packed_tiktok_order(tiktok, shop, client, django_capture_on_commit_callbacks, staff)
    tiktok.control(f"orders/{tt['id']}/cancellations", {"reason": "Changed my mind"})
    tiktok.deliver(client, capture=django_capture_on_commit_callbacks)
    request = CancellationRequest.objects.get(order=order)
    client.force_login(SellerUserFactory(username="acme-clerk", seller=shop.seller))
    page = client.get(reverse("portal:requests")).content.decode()
    assert 'data-testid="reject-reasons"' in page and "The product has been packed" in page
    form = admin_client.get(reverse("admin:returns_cancellationrequest_reject", args=[request.pk])).content.decode()
    assert "<select" in form and "Agreed with the buyer to continue" in form


def test_the_demo_shop_gets_products_and_carriers_mapped_to_tiktok_providers(tiktok, staff):
    from django.core.management import call_command

    from accounts.tests.factories import SellerFactory
    from backoffice.management.commands.load_demo import DEMO_SELLER_CODE, PRODUCTS
    from tiktok.models import CarrierProvider

    SellerFactory(code=DEMO_SELLER_CODE, name="Acme Goods")
    call_command("tiktok_demo", emulator=tiktok.url, orders=1)
    products = tiktok.control("products", method="GET")["products"]
    assert {sku["seller_sku"] for p in products for sku in p["skus"]} == {code for code, _, _ in PRODUCTS}
    assert CarrierProvider.objects.get(carrier__code="ups").provider_name == "UPS"
