"""TikTok in the console: shops and their state, the event log with processing again, an order's TikTok events."""

import pytest
from django.urls import reverse

from accounts.tests.factories import make_staff_user
from orders.models import Order
from tiktok.models import EventStatus, TikTokEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def support(client):
    client.force_login(make_staff_user("Support"))
    return client


def test_support_sees_shops_events_and_an_orders_tiktok_events(
    tiktok, shop, support, client, django_capture_on_commit_callbacks
):
    tt = tiktok.order(shop.tiktok_id)
    tiktok.deliver(client, capture=django_capture_on_commit_callbacks)
    order = Order.objects.get(external_id=tt["id"])

    shops = support.get(reverse("admin:tiktok_shop_changelist")).content.decode()
    assert "Acme on TikTok" in shops and "Connected" in shops
    page = support.get(reverse("admin:tiktok_shop_change", args=[shop.pk])).content.decode()
    assert shop.access.access_token not in page and shop.refresh_token not in page
    assert shop.access_token_encrypted not in page

    order_page = support.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "1 event(s) TikTok sent about this order" in order_page
    events = support.get(reverse("admin:tiktok_tiktokevent_changelist"), {"q": tt["id"]}).content.decode()
    assert "Order status change" in events and "Processed" in events


def test_a_failed_event_is_processed_again_from_its_page(
    tiktok, shop, support, client, django_capture_on_commit_callbacks
):
    tiktok.order(shop.tiktok_id)
    tiktok.control("failures", {"path": "/order/202309/orders", "http_status": 500, "code": 36009003})
    tiktok.deliver(client, capture=django_capture_on_commit_callbacks)
    event = TikTokEvent.objects.get()
    assert event.status == EventStatus.FAILED

    index = support.get(reverse("admin:index")).content.decode()
    assert "TikTok events failed" in index
    page = support.get(reverse("admin:tiktok_tiktokevent_change", args=[event.pk])).content.decode()
    assert "Process again" in page and "36009003" in page

    url = reverse("admin:tiktok_tiktokevent_reprocess", args=[event.pk])
    assert "Process again" in support.get(url).content.decode()
    answer = support.post(url, follow=True)
    assert f"Event {event.pk} processed." in answer.content.decode()
    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED
    assert Order.objects.count() == 1


def test_warehouse_staff_cannot_process_events_again(tiktok, shop, client, django_capture_on_commit_callbacks):
    tiktok.order(shop.tiktok_id)
    tiktok.deliver(client, capture=django_capture_on_commit_callbacks)
    event = TikTokEvent.objects.get()
    client.force_login(make_staff_user("Warehouse"))
    assert client.post(reverse("admin:tiktok_tiktokevent_reprocess", args=[event.pk])).status_code == 403
