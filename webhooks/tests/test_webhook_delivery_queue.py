"""Deliveries run on their own queue, never in the timer pass, and a failing partner endpoint is left alone a while."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from accounts.tests.factories import PartnerFactory
from backoffice.timers import process_due_timers
from webhooks.models import WebhookCircuit, WebhookEvent, WebhookEventStatus
from webhooks.services import DELIVER_TASK, partner_webhook_configure, webhook_event_deliver
from webhooks.tests.conftest import STAFF
from webhooks.tests.support import START, Receiver, orderless_event

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def queued(monkeypatch):
    """The delivery tasks queued (not run): ``(func, args, kwargs)`` each."""
    calls = []
    monkeypatch.setattr(
        "webhooks.services.async_task", lambda func, *args, **kwargs: calls.append((func, args, kwargs))
    )
    return calls


# --- the delivery queue ------------------------------------------------------------------------------------


def test_the_timer_pass_queues_due_deliveries_and_sends_nothing_itself(hooked, receiver, clock, queued):
    """A hanging endpoint used to hold the timer workers for WEBHOOK_TIMEOUT per event."""
    partner, _ = hooked
    events = [orderless_event(partner) for _ in range(3)]

    counts = process_due_timers()

    assert counts["webhooks_queued"] == 3
    assert receiver.requests == []
    assert sorted(args[0] for _, args, _ in queued) == sorted(e.pk for e in events)
    assert {func for func, _, _ in queued} == {DELIVER_TASK}
    assert {kwargs["cluster"] for _, _, kwargs in queued} == {"webhooks"}


def test_a_new_event_is_queued_on_the_delivery_queue_after_commit(
    hooked, clock, queued, django_capture_on_commit_callbacks
):
    partner, _ = hooked
    with django_capture_on_commit_callbacks(execute=True):
        event = orderless_event(partner)

    assert queued == [(DELIVER_TASK, (event.pk,), {"group": "webhooks", "cluster": "webhooks"})]


def test_a_queued_event_is_queued_again_only_when_its_task_seems_lost(hooked, clock, queued, settings):
    settings.WEBHOOK_REQUEUE_AFTER = timedelta(minutes=10)
    partner, _ = hooked
    event = orderless_event(partner)

    first = process_due_timers()["webhooks_queued"]
    clock.move_to(START + timedelta(minutes=9))
    meanwhile = process_due_timers()["webhooks_queued"]
    clock.move_to(START + timedelta(minutes=10))
    lost = process_due_timers()["webhooks_queued"]

    assert (first, meanwhile, lost) == (1, 0, 1)
    assert [args for _, args, _ in queued] == [(event.pk,), (event.pk,)]


@pytest.mark.parametrize(
    ("cluster_name", "expected"),
    [("", "backoffice backoffice 2 120 True"), ("webhooks", "backoffice webhooks 2 50 False")],
)
def test_the_delivery_workers_are_a_cluster_of_their_own_that_can_read_our_tasks(cluster_name, expected):
    """``Q_CLUSTER_NAME=webhooks manage.py qcluster`` serves the delivery queue, with the same signing name."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "Q_CLUSTER_NAME", "Q_SYNC")}
    env |= {"DEBUG": "true", "WEBHOOK_TIMEOUT": "10s"}
    if cluster_name:
        env["Q_CLUSTER_NAME"] = cluster_name
    code = (
        "from django_q.conf import Conf; "
        "print(Conf.PREFIX, Conf.CLUSTER_NAME, Conf.WORKERS, Conf.TIMEOUT, Conf.SCHEDULER)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


# --- the circuit breaker -----------------------------------------------------------------------------------


@pytest.fixture
def breaker(settings):
    settings.WEBHOOK_BREAKER_FAILURES = 3
    settings.WEBHOOK_BREAKER_COOLDOWN = timedelta(minutes=10)
    return settings


def test_repeated_failures_open_the_circuit_and_events_wait_without_using_attempts(hooked, receiver, clock, breaker):
    partner, _ = hooked
    receiver.answers = [500, 500, 500]
    failing = [orderless_event(partner) for _ in range(3)]
    for event in failing:
        webhook_event_deliver(event.pk)
    waiting = orderless_event(partner)

    skipped = webhook_event_deliver(waiting.pk)

    assert skipped is None
    assert len(receiver.requests) == 3
    circuit = WebhookCircuit.objects.get(partner=partner)
    assert (circuit.consecutive_failures, circuit.open_until) == (3, START + timedelta(minutes=10))
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts) == (WebhookEventStatus.PENDING, 0)
    assert waiting.next_attempt_at == START + timedelta(minutes=10)
    assert waiting.last_error.startswith("paused: the endpoint failed repeatedly")


def test_an_open_circuit_keeps_the_timer_pass_from_queueing_the_partners_events(
    hooked, receiver, clock, breaker, queued
):
    partner, _ = hooked
    WebhookCircuit.objects.create(partner=partner, consecutive_failures=3, open_until=START + timedelta(minutes=10))
    orderless_event(partner)

    assert process_due_timers()["webhooks_queued"] == 0
    clock.move_to(START + timedelta(minutes=10))
    assert process_due_timers()["webhooks_queued"] == 1


def test_after_the_cool_down_one_trial_decides(hooked, receiver, clock, breaker):
    partner, _ = hooked
    WebhookCircuit.objects.create(partner=partner, consecutive_failures=3, open_until=START + timedelta(minutes=10))
    events = [orderless_event(partner) for _ in range(3)]
    clock.move_to(START + timedelta(minutes=10))
    receiver.answers = [500]

    trial = webhook_event_deliver(events[0].pk)
    held_off = webhook_event_deliver(events[1].pk)

    assert trial.status_code == 500
    assert held_off is None  # the circuit opened again with the failed trial
    circuit = WebhookCircuit.objects.get(partner=partner)
    assert circuit.open_until == START + timedelta(minutes=20)

    clock.move_to(START + timedelta(minutes=20))
    recovered = webhook_event_deliver(events[2].pk)
    then = webhook_event_deliver(events[1].pk)

    assert recovered.status_code == then.status_code == 200
    circuit.refresh_from_db()
    assert (circuit.consecutive_failures, circuit.open_until) == (0, None)
    assert len(receiver.requests) == 3


def test_one_partners_open_circuit_does_not_stop_another(hooked, receiver, seller, clock, breaker):
    partner, _ = hooked
    WebhookCircuit.objects.create(partner=partner, consecutive_failures=3, open_until=START + timedelta(minutes=10))
    other_receiver = Receiver().start()
    try:
        other, _ = partner_webhook_configure(
            partner_id=PartnerFactory(name="Connector B", sellers=[seller]).pk, url=other_receiver.url, actor=STAFF
        )
        event = orderless_event(other)

        delivery = webhook_event_deliver(event.pk)
    finally:
        other_receiver.stop()

    assert delivery.status_code == 200
    assert WebhookEvent.objects.get(pk=event.pk).status == WebhookEventStatus.DELIVERED
