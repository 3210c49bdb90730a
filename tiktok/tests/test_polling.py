"""Webhooks can be missed: the poller catches up. The timers lease polls, token refreshes and event retries."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from backoffice.timers import process_due_timers
from core.actors import Actor
from orders.models import Order, OrderStatus
from returns.models import CancellationRequest, CancellationStatus
from tiktok.models import EventStatus, Shop, ShopStatus, TikTokEvent
from tiktok.services import shop_poll, shop_tokens_refresh
from tiktok.tasks import event_process

pytestmark = pytest.mark.django_db
TIMER = Actor.system("timer")


def test_a_lost_webhook_is_caught_up_by_the_poller(tiktok, shop, client, django_capture_on_commit_callbacks):
    tt = tiktok.order(shop.tiktok_id)
    tiktok.deliver(client, capture=django_capture_on_commit_callbacks)
    tiktok.control(f"orders/{tt['id']}/pay")
    tiktok.control(f"orders/{tt['id']}/status", {"status": "AWAITING_SHIPMENT"})
    lost = tiktok.order(shop.tiktok_id, status="AWAITING_SHIPMENT")
    cancellation = tiktok.control(f"orders/{lost['id']}/cancellations", {"reason": "Wrong size"})
    assert len(tiktok.drop()) == 4  # none of these reached us

    order = Order.objects.get(external_id=tt["id"])
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert not Order.objects.filter(external_id=lost["id"]).exists()

    result = shop_poll(shop_id=shop.pk)

    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_CHECKOUT
    assert order.has_shipping_address
    caught_up = Order.objects.get(external_id=lost["id"])
    assert caught_up.status == OrderStatus.AWAITING_CHECKOUT
    assert caught_up.events.get(action="intake").actor == "system:TikTok sync"
    request = CancellationRequest.objects.get(order=caught_up)
    assert (request.external_id, request.status) == (cancellation["cancel_id"], CancellationStatus.PENDING)
    assert result.failed == []
    shop.refresh_from_db()
    assert shop.last_synced_at is not None and shop.sync_error == ""
    assert shop.sync_cursor == result.cursor >= tt["create_time"]

    # Polling again changes nothing.
    shop_poll(shop_id=shop.pk)
    assert Order.objects.count() == 2
    assert order.events.filter(action="end_hold_early").count() == 1
    assert CancellationRequest.objects.count() == 1


def test_the_timer_pass_leases_a_poll_and_the_task_runs_it(tiktok, shop, django_capture_on_commit_callbacks):
    tt = tiktok.order(shop.tiktok_id)
    tiktok.drop()
    with django_capture_on_commit_callbacks(execute=True):
        counts = process_due_timers()
    assert counts["tiktok_polls"] == 1
    assert Order.objects.filter(external_id=tt["id"]).exists()
    shop.refresh_from_db()
    assert shop.next_poll_at > timezone.now()
    # Not due again until the interval has passed: a second pass right away polls nothing.
    assert process_due_timers()["tiktok_polls"] == 0


def test_a_failed_poll_keeps_the_error_and_the_cursor(tiktok, shop):
    tiktok.control("failures", {"path": "/order/202309/orders/search", "http_status": 500, "code": 36009003})
    with pytest.raises(Exception, match="36009003"):
        shop_poll(shop_id=shop.pk)
    shop.refresh_from_db()
    assert "36009003" in shop.sync_error
    assert shop.sync_cursor is None and shop.last_synced_at is None


def test_tokens_are_refreshed_before_they_expire(tiktok, shop, django_capture_on_commit_callbacks, settings):
    old_access = shop.access.access_token
    assert shop.token_refresh_at == shop.access_token_expires_at - settings.TIKTOK_TOKEN_REFRESH_LEAD
    # A day before the access token expires, a timer pass refreshes it (the emulator's clock moves with ours).
    Shop.objects.filter(pk=shop.pk).update(next_poll_at=None)  # leave the poller out of it
    later = shop.token_refresh_at + timedelta(minutes=1)
    tiktok.control("clock", {"advance": (later - timezone.now()).total_seconds()})
    with time_machine.travel(later, tick=True), django_capture_on_commit_callbacks(execute=True):
        counts = process_due_timers()
    assert counts["tiktok_token_refreshes"] == 1
    shop.refresh_from_db()
    assert shop.status == ShopStatus.ACTIVE
    assert shop.access.access_token != old_access
    assert shop.access_token_expires_at > later + timedelta(days=6)
    assert shop.events.filter(action="tokens_refreshed").count() == 1
    # The tokens are never stored in the clear.
    row = Shop.objects.filter(pk=shop.pk).values("access_token_encrypted", "refresh_token_encrypted").get()
    assert shop.access.access_token not in row["access_token_encrypted"]
    assert shop.refresh_token not in row["refresh_token_encrypted"]


def test_a_refused_refresh_marks_the_shop_and_tells_the_seller(tiktok, shop, django_capture_on_commit_callbacks):
    tiktok.control(f"shops/{shop.shop_id}/deauthorize", {"notify": False})  # the refresh token no longer works
    with django_capture_on_commit_callbacks(execute=True):
        shop_tokens_refresh(shop_id=shop.pk, actor=TIMER)
    shop.refresh_from_db()
    assert shop.status == ShopStatus.TOKEN_EXPIRED
    assert "Connect the shop again" in shop.status_note
    assert shop.next_poll_at is None and shop.token_refresh_at is None
    (email,) = mail.outbox
    assert email.to == ["orders@acme.example"]
    assert "connected again" in email.subject
    assert "/portal/tiktok/" in email.body


def test_a_passing_refresh_failure_is_retried_later(tiktok, shop):
    tiktok.control("failures", {"path": "/api/v2/token/refresh", "http_status": 503, "code": 36009003})
    before = shop.access.access_token
    shop_tokens_refresh(shop_id=shop.pk, actor=TIMER)
    shop.refresh_from_db()
    assert shop.status == ShopStatus.ACTIVE
    assert shop.access.access_token == before
    assert shop.token_refresh_at > timezone.now() + timedelta(minutes=5)
    assert shop.events.filter(action="refresh_failed").count() == 1


def test_an_event_whose_task_was_lost_is_processed_by_the_timer(tiktok, shop, client):
    tt = tiktok.order(shop.tiktok_id)
    # Delivered without running the task it queues (as when the broker loses it).
    tiktok.deliver(client)
    event = TikTokEvent.objects.get()
    assert event.status == EventStatus.RECEIVED
    Shop.objects.filter(pk=shop.pk).update(next_poll_at=None)  # leave the poller out of it
    with time_machine.travel(timezone.now() + timedelta(minutes=3), tick=True):
        counts = process_due_timers()
    assert counts["tiktok_event_retries"] == 1
    event.refresh_from_db()
    assert event.next_attempt_at > timezone.now()
    # The queued task, run now, processes it.
    assert event_process(event.pk) == EventStatus.PROCESSED
    assert Order.objects.filter(external_id=tt["id"]).exists()
