"""POST /tiktok/webhook/: verified, stored once, acknowledged at once, processed from TikTok's current state."""

import json

import pytest

from orders.models import Order, OrderEvent, OrderStatus
from tiktok.models import EventStatus, ShopStatus, TikTokEvent
from tiktok.signing import webhook_signature
from tiktok.tests.conftest import APP_KEY, APP_SECRET

pytestmark = pytest.mark.django_db


def _post(client, body: bytes, signature: str):
    return client.post("/tiktok/webhook/", body, content_type="application/json", HTTP_AUTHORIZATION=signature)


def test_a_bad_signature_gets_401_and_nothing_is_stored(tiktok, shop, client):
    tiktok.order(shop.tiktok_id)
    (note,) = tiktok.drop()
    body = note["body"].encode()

    assert _post(client, body, "0" * 64).status_code == 401
    assert _post(client, body, "").status_code == 401
    # A signature of another body, or with another secret, does not verify either.
    assert _post(client, body + b" ", note["signature"]).status_code == 401
    assert _post(client, body, webhook_signature(app_key=APP_KEY, app_secret="guess", body=body)).status_code == 401
    assert TikTokEvent.objects.count() == 0
    assert Order.objects.count() == 0


def test_a_valid_webhook_is_acknowledged_stored_and_processed(tiktok, shop, client, django_capture_on_commit_callbacks):
    tt_order = tiktok.order(shop.tiktok_id)
    (answer,) = tiktok.deliver(client, capture=django_capture_on_commit_callbacks)

    assert answer.status_code == 200
    assert answer.json()["code"] == 0
    event = TikTokEvent.objects.get()
    assert (event.type, event.shop, event.tiktok_order_id) == (1, shop, tt_order["id"])
    assert event.status == EventStatus.PROCESSED
    assert event.next_attempt_at is None
    order = Order.objects.get(external_id=tt_order["id"])
    assert (order.partner, order.seller, order.status) == (shop.partner, shop.seller, OrderStatus.PENDING_PAYMENT)
    intake = order.events.get(action="intake")
    assert intake.actor == f"system:TikTok event {event.notification_id}"


def test_the_same_event_twice_is_acknowledged_and_changes_nothing(
    tiktok, shop, client, django_capture_on_commit_callbacks
):
    tiktok.order(shop.tiktok_id)
    (note,) = tiktok.drop()

    first, second = tiktok.deliver(client, [note, note], capture=django_capture_on_commit_callbacks)

    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["duplicate"], second.json()["duplicate"]) == (False, True)
    assert TikTokEvent.objects.count() == 1
    assert Order.objects.count() == 1
    assert OrderEvent.objects.filter(action="intake").count() == 1


def test_an_event_without_id_is_stored_once_by_its_body(tiktok, shop, client, django_capture_on_commit_callbacks):
    tt_order = tiktok.order(shop.tiktok_id, notify=False)
    envelope = {
        "type": 3,
        "shop_id": shop.shop_id,
        "timestamp": 1700000000,
        "data": {"order_id": tt_order["id"], "update_time": 1700000000},
    }
    body = json.dumps(envelope).encode()
    signature = webhook_signature(app_key=APP_KEY, app_secret=APP_SECRET, body=body)
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, body, signature).status_code == 200
        assert _post(client, body, signature).json()["duplicate"] is True
    assert TikTokEvent.objects.get().notification_id == ""
    assert Order.objects.filter(external_id=tt_order["id"]).exists()


def test_other_types_and_unknown_shops_are_stored_and_ignored(tiktok, shop, client):
    def send(envelope):
        body = json.dumps(envelope).encode()
        return _post(client, body, webhook_signature(app_key=APP_KEY, app_secret=APP_SECRET, body=body))

    assert send({"type": 5, "tts_notification_id": "n1", "shop_id": shop.shop_id, "data": {}}).status_code == 200
    assert (
        send({"type": 1, "tts_notification_id": "n2", "shop_id": "999", "data": {"order_id": "1"}}).status_code == 200
    )
    assert send({"type": "1", "shop_id": shop.shop_id}).status_code == 400
    assert sorted(TikTokEvent.objects.values_list("status", flat=True)) == [EventStatus.IGNORED] * 2
    assert Order.objects.count() == 0


def test_a_deauthorisation_disconnects_the_shop_and_keeps_its_orders(
    tiktok, shop, client, django_capture_on_commit_callbacks
):
    tiktok.order(shop.tiktok_id)
    tiktok.deliver(client, capture=django_capture_on_commit_callbacks)
    tiktok.control(f"shops/{shop.shop_id}/deauthorize")
    tiktok.deliver(client, capture=django_capture_on_commit_callbacks)

    shop.refresh_from_db()
    assert shop.status == ShopStatus.DEAUTHORISED
    assert "withdrew" in shop.status_note
    assert (shop.access_token_encrypted, shop.refresh_token_encrypted) == ("", "")
    assert shop.next_poll_at is None and shop.token_refresh_at is None
    assert Order.objects.filter(partner=shop.partner).count() == 1
    assert shop.events.filter(action="deauthorised").count() == 1


def test_a_failed_event_keeps_its_error_and_is_retried_later(tiktok, shop, client, django_capture_on_commit_callbacks):
    tiktok.order(shop.tiktok_id)
    tiktok.control("failures", {"path": "/order/202309/orders", "http_status": 500, "code": 36009003, "times": 1})
    tiktok.deliver(client, capture=django_capture_on_commit_callbacks)

    event = TikTokEvent.objects.get()
    assert event.status == EventStatus.FAILED
    assert "36009003" in event.error
    assert event.next_attempt_at is not None
    assert Order.objects.count() == 0

    from tiktok.services import event_process

    event_process(event_id=event.pk)
    event.refresh_from_db()
    assert (event.status, event.attempts, event.error) == (EventStatus.PROCESSED, 2, "")
    assert Order.objects.count() == 1
