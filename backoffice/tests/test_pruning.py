"""Big tables stay healthy: what outlived its retention is pruned in batches; orders and audit trails stay."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import Failure, Schedule, Success, Task

from accounts.models import IdempotencyRecord
from backoffice.pruning import prune_old_rows
from backoffice.setup import PRUNE_SCHEDULE_NAME, ensure_schedules
from core.actors import Actor
from core.pruning import prune_in_batches
from fulfillment.tests.factories import make_sku
from orders.models import Order, OrderEvent
from orders.tests.factories import make_order
from tiktok.models import EventStatus, TikTokEvent
from webhooks.models import WebhookDelivery, WebhookEvent, WebhookEventLog, WebhookEventStatus
from webhooks.services import partner_webhook_configure
from webhooks.tests.support import orderless_event

DAYS = timedelta(days=1)

pytestmark = pytest.mark.django_db


def _webhook(partner, status: str, *, delivered_ago: timedelta | None, attempts: int = 1) -> WebhookEvent:
    event = orderless_event(partner)
    now = timezone.now()
    for number in range(1, attempts + 1):
        WebhookDelivery.objects.create(event=event, round=1, number=number, url="https://p.example/h", started_at=now)
    delivered_at = now - delivered_ago if delivered_ago is not None else None
    WebhookEventLog.objects.create(event=event, action=status, to_status=status, actor="system:test")
    WebhookEvent.objects.filter(pk=event.pk).update(status=status, delivered_at=delivered_at, next_attempt_at=None)
    return event


def _tiktok(status: str, *, ago: timedelta) -> TikTokEvent:
    at = timezone.now() - ago
    return TikTokEvent.objects.create(
        tiktok_shop_id="7000",
        type=1,
        notification_id=uuid.uuid4().hex,
        body={"type": 1},
        received_at=at,
        status=status,
        processed_at=at if status == EventStatus.PROCESSED else None,
    )


def _task(*, success: bool, ago: timedelta) -> Task:
    stopped = timezone.now() - ago
    return Task.objects.create(
        id=uuid.uuid4().hex,
        name=uuid.uuid4().hex,
        func="backoffice.tasks.process_due_timers",
        started=stopped - timedelta(seconds=1),
        stopped=stopped,
        success=success,
    )


def _idempotency(partner, key: str, *, ago: timedelta) -> IdempotencyRecord:
    record = IdempotencyRecord.objects.create(partner=partner, key=key, method="POST", path="/x/", request_digest="d")
    IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - ago)
    return record


def test_each_kind_goes_after_its_own_retention_and_orders_with_their_history_stay(partner, seller, settings):
    settings.WEBHOOK_RETENTION = 30 * DAYS
    settings.TIKTOK_EVENT_RETENTION = 20 * DAYS
    settings.TASK_RESULT_RETENTION = 7 * DAYS
    settings.IDEMPOTENCY_KEY_TTL = 1 * DAYS
    make_sku(seller=seller, code="MUG", on_hand=10)
    partner_webhook_configure(partner_id=partner.pk, url="http://127.0.0.1:9/hook", actor=Actor.system("test"))
    partner.refresh_from_db()
    old_order = make_order(
        partner=partner, seller=seller, lines=[("MUG", 1)], placed_at=timezone.now() - timedelta(days=80)
    )
    Order.objects.filter(pk=old_order.pk).update(created_at=timezone.now() - 400 * DAYS)
    OrderEvent.objects.filter(order=old_order).update(created_at=timezone.now() - 400 * DAYS)
    order_events = OrderEvent.objects.filter(order=old_order).count()
    assert order_events >= 1

    old_delivered = _webhook(partner, WebhookEventStatus.DELIVERED, delivered_ago=31 * DAYS, attempts=2)
    new_delivered = _webhook(partner, WebhookEventStatus.DELIVERED, delivered_ago=29 * DAYS)
    parked = _webhook(partner, WebhookEventStatus.PARKED, delivered_ago=None, attempts=6)
    WebhookEvent.objects.filter(pk=parked.pk).update(created_at=timezone.now() - 90 * DAYS)

    kept_tiktok = {
        _tiktok(EventStatus.PROCESSED, ago=19 * DAYS).pk,
        _tiktok(EventStatus.FAILED, ago=90 * DAYS).pk,  # waits for staff
        _tiktok(EventStatus.RECEIVED, ago=90 * DAYS).pk,  # still to process
    }
    _tiktok(EventStatus.PROCESSED, ago=21 * DAYS)
    _tiktok(EventStatus.IGNORED, ago=21 * DAYS)

    kept_tasks = {_task(success=True, ago=6 * DAYS).pk, _task(success=False, ago=6 * DAYS).pk}
    _task(success=True, ago=8 * DAYS)
    _task(success=False, ago=8 * DAYS)

    _idempotency(partner, "old", ago=25 * timedelta(hours=1))
    _idempotency(partner, "new", ago=23 * timedelta(hours=1))

    counts = prune_old_rows()

    assert counts == {"webhook_events": 1, "tiktok_events": 2, "task_results": 2, "idempotency_records": 1}
    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {new_delivered.pk, parked.pk}
    assert not WebhookDelivery.objects.filter(event_id=old_delivered.pk).exists()  # its attempts went with it
    assert not WebhookEventLog.objects.filter(event_id=old_delivered.pk).exists()
    assert WebhookDelivery.objects.filter(event_id=parked.pk).count() == 6
    assert set(TikTokEvent.objects.values_list("pk", flat=True)) == kept_tiktok
    assert set(Task.objects.values_list("pk", flat=True)) == kept_tasks
    assert Success.objects.count() == 1 and Failure.objects.count() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
    # Orders and their audit trail are never pruned, however old.
    assert Order.objects.filter(pk=old_order.pk).exists()
    assert OrderEvent.objects.filter(order=old_order).count() == order_events
    # A second run finds nothing more.
    assert prune_old_rows() == dict.fromkeys(counts, 0)


def test_prune_deletes_in_batches_each_in_its_own_transaction(settings):
    settings.PRUNE_BATCH_SIZE = 3
    settings.TASK_RESULT_RETENTION = 7 * DAYS
    for _ in range(8):
        _task(success=True, ago=8 * DAYS)
    kept = _task(success=True, ago=1 * DAYS)

    with CaptureQueriesContext(connection) as queries:
        assert prune_old_rows()["task_results"] == 8

    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('DELETE FROM "django_q_task"')]
    assert len(deletes) == 3  # 3 + 3 + 2 rows
    savepoints = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) >= 3  # one transaction per batch (savepoints inside the test's own transaction)
    assert list(Task.objects.values_list("pk", flat=True)) == [kept.pk]


def test_the_prune_schedule_is_created_after_migrate_with_its_interval(settings):
    settings.PRUNE_INTERVAL = timedelta(minutes=30)
    ensure_schedules()
    schedule = Schedule.objects.get(name=PRUNE_SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "backoffice.tasks.prune_old_rows",
        Schedule.MINUTES,
        30,
    )
    ensure_schedules()
    assert Schedule.objects.filter(name=PRUNE_SCHEDULE_NAME).count() == 1


def test_the_command_prunes_and_says_how_much(settings, capsys):
    settings.TASK_RESULT_RETENTION = 7 * DAYS
    _task(success=False, ago=8 * DAYS)
    call_command("prune_old_rows")
    out = capsys.readouterr().out
    assert "task_results: 1" in out and "webhook_events: 0" in out
    assert not Task.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_another_transaction_holds_is_left_for_the_next_run_without_waiting(settings):
    settings.PRUNE_BATCH_SIZE = 2
    settings.TASK_RESULT_RETENTION = 7 * DAYS
    rows = [_task(success=True, ago=8 * DAYS) for _ in range(5)]
    held = rows[2].pk
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Task.objects.select_for_update().get(pk=held)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        assert prune_in_batches(Task.objects.filter(stopped__lt=timezone.now() - 7 * DAYS)) == 4
        assert list(Task.objects.values_list("pk", flat=True)) == [held]
    finally:
        release.set()
        holder.join()
    assert prune_old_rows()["task_results"] == 1
