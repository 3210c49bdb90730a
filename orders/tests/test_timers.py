"""Timers with a moved clock: unpaid orders cancel at 24h, holds end at 60 minutes, exactly once."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django_q.models import Schedule

from backoffice.setup import TIMER_SCHEDULE_NAME, ensure_schedules
from backoffice.timers import process_due_timers
from orders.models import Order, OrderStatus
from orders.tests.factories import make_order

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _moves(counts):
    return {k: counts[k] for k in ("unpaid_cancelled", "holds_ended")}


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def test_unpaid_order_cancels_at_24h_and_releases_stock(partner, seller, sku, clock):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 4)])
    clock.move_to(START + timedelta(hours=23, minutes=59))
    assert _moves(process_due_timers()) == {"unpaid_cancelled": 0, "holds_ended": 0}
    order.refresh_from_db()
    sku.stock.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT and sku.stock.reserved == 4

    clock.move_to(START + timedelta(hours=24, minutes=1))
    assert process_due_timers()["unpaid_cancelled"] == 1
    order.refresh_from_db()
    sku.stock.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert (order.cancelled_by, order.cancel_reason) == ("system", "unpaid")
    assert sku.stock.reserved == 0
    event = order.events.last()
    assert (event.action, event.actor) == ("cancel_unpaid", "system:timer")
    # A second pass finds nothing more to do.
    assert _moves(process_due_timers()) == {"unpaid_cancelled": 0, "holds_ended": 0}


def test_hold_releases_at_60_minutes(partner, seller, sku, clock):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], paid_at=START)
    clock.move_to(START + timedelta(minutes=59, seconds=59))
    process_due_timers()
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD
    clock.move_to(START + timedelta(minutes=60))
    assert process_due_timers()["holds_ended"] == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_CHECKOUT
    # A paid order is no longer subject to the unpaid timer.
    clock.move_to(START + timedelta(days=2))
    process_due_timers()
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_CHECKOUT


def test_catches_up_after_downtime_in_batches(partner, seller, sku, clock, settings):
    """Every overdue row is handled in one pass, however many batches it takes."""
    settings.TIMER_BATCH_SIZE = 3
    unpaid = [make_order(partner=partner, seller=seller, lines=[("NOPE", 1)]) for _ in range(7)]
    held = [make_order(partner=partner, seller=seller, lines=[("NOPE", 1)], paid_at=START) for _ in range(5)]
    clock.move_to(START + timedelta(days=3))
    assert _moves(process_due_timers()) == {"unpaid_cancelled": 7, "holds_ended": 5}
    assert set(Order.objects.filter(pk__in=[o.pk for o in unpaid]).values_list("status", flat=True)) == {
        OrderStatus.CANCELLED
    }
    assert set(Order.objects.filter(pk__in=[o.pk for o in held]).values_list("status", flat=True)) == {
        OrderStatus.AWAITING_CHECKOUT
    }


def test_one_failing_row_does_not_stop_the_pass(partner, seller, sku, clock, monkeypatch):
    from orders import timers

    bad = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    good = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    real = timers.order_cancel_locked

    def flaky(*, order, **kwargs):
        if order.pk == bad.pk:
            raise RuntimeError("carrier API down")
        return real(order=order, **kwargs)

    monkeypatch.setattr(timers, "order_cancel_locked", flaky)
    clock.move_to(START + timedelta(days=1, minutes=1))
    assert process_due_timers()["unpaid_cancelled"] == 1
    bad.refresh_from_db()
    good.refresh_from_db()
    assert good.status == OrderStatus.CANCELLED
    assert bad.status == OrderStatus.PENDING_PAYMENT and "carrier API down" in bad.timer_error
    assert bad.events.count() == 1  # nothing half-written


def test_process_timers_command(partner, seller, sku, clock, capsys):
    make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    clock.move_to(START + timedelta(days=2))
    call_command("process_timers")
    assert "unpaid_cancelled" in capsys.readouterr().out
    assert Order.objects.get().status == OrderStatus.CANCELLED


def test_schedule_is_created_once_and_runs_every_minute(db):
    ensure_schedules()
    ensure_schedules()
    schedule = Schedule.objects.get(name=TIMER_SCHEDULE_NAME)
    assert Schedule.objects.filter(func=schedule.func).count() == 1
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "backoffice.tasks.process_due_timers",
        Schedule.MINUTES,
        1,
    )
