"""SLA clocks (R8): each clock's state at the right instants, and one ``order.at_risk`` alert per clock."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from backoffice.timers import process_due_timers
from core.actors import Actor
from fulfillment.selectors import fulfillment_counts
from fulfillment.services import (
    shipment_hand_over,
    shipment_label,
    shipment_pack,
    shipment_record_carrier_event,
    shipment_start_picking,
)
from fulfillment.sla import order_sla_clocks, sla_state
from fulfillment.tests.factories import CarrierFactory, tracking_number, warehouse_actor
from orders.models import Order, OrderEvent
from orders.services import order_cancel
from orders.tests.factories import make_order, make_ready_order
from webhooks.models import WebhookEvent
from webhooks.services import partner_webhook_configure

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def subscribed(partner, monkeypatch):
    """The partner takes webhooks; delivery itself is the outbox's business, so it is left out here."""
    partner_webhook_configure(partner_id=partner.pk, url="http://127.0.0.1:9/hooks", actor=Actor.system("test"))
    monkeypatch.setattr("backoffice.timers.process_due_webhooks", lambda **kwargs: {})
    partner.refresh_from_db()
    return partner


@pytest.fixture
def carrier(db):
    return CarrierFactory(code="acmeship")


@pytest.fixture
def ready(partner, seller, sku, clock):
    """Placed at START, ready to fulfil at START + 2h."""
    clock.move_to(START + 2 * H)
    return make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], placed_at=START)


def _clocks(order, at):
    order = Order.objects.select_related("shipment").get(pk=order.pk)
    return {name: clock.state for name, clock in order_sla_clocks(order, now=at).items()}


def _ship_by(order, at):
    return _clocks(order, at)["ship_by"]


def test_ship_by_is_ok_then_at_risk_then_late(ready):
    assert _ship_by(ready, START + 59 * H + timedelta(minutes=59, seconds=59)) == "ok"
    assert _ship_by(ready, START + 60 * H) == "at_risk"
    assert _ship_by(ready, START + 72 * H) == "at_risk", "at the deadline itself it is not late yet"
    assert _ship_by(ready, START + 72 * H + timedelta(seconds=1)) == "late"


def test_the_lead_and_the_windows_are_settings(partner, seller, sku, clock, settings):
    settings.SHIP_BY_WINDOW = timedelta(hours=24)
    settings.AT_RISK_LEAD = timedelta(hours=2)
    clock.move_to(START + 2 * H)
    order = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], placed_at=START)
    assert order.ship_by == START + 24 * H
    assert _ship_by(order, START + 21 * H + timedelta(minutes=59)) == "ok"
    assert _ship_by(order, START + 22 * H) == "at_risk"


def test_every_clock_at_once(ready, carrier, clock):
    actor = warehouse_actor()
    assert _clocks(ready, START + 3 * H) == {
        "ship_by": "ok",
        "tracking_due": "ok",
        "collect_by": "not_started",
        "deliver_by": "ok",
    }
    clock.move_to(START + 71 * H)
    shipment_start_picking(order_id=ready.pk, actor=actor)
    shipment_pack(order_id=ready.pk, actor=actor)
    shipment_label(
        order_id=ready.pk, carrier=carrier, tracking_number=tracking_number(1), handover_method="pickup", actor=actor
    )
    # Labelled 1h before ship-by: met for good; collection now counts 48h from the label.
    assert _clocks(ready, START + 270 * H) == {
        "ship_by": "met",
        "tracking_due": "met",
        "collect_by": "late",
        "deliver_by": "late",
    }
    assert _clocks(ready, START + 71 * H + 36 * H) == {
        "ship_by": "met",
        "tracking_due": "met",
        "collect_by": "at_risk",
        "deliver_by": "ok",
    }
    clock.move_to(START + 71 * H + 50 * H)
    shipment_hand_over(order_id=ready.pk, actor=actor)
    assert _clocks(ready, START + 130 * H)["collect_by"] == "met_late"
    delivered = START + 10 * 24 * H
    clock.move_to(delivered)
    shipment_record_carrier_event(
        order_id=ready.pk, type="delivered", at=delivered, actor=Actor.for_partner(ready.partner)
    )
    assert _clocks(ready, START + 400 * H)["deliver_by"] == "met"


def test_shipping_late_is_met_late(ready, carrier, clock):
    actor = warehouse_actor()
    clock.move_to(START + 73 * H)
    shipment_start_picking(order_id=ready.pk, actor=actor)
    shipment_pack(order_id=ready.pk, actor=actor)
    shipment_label(
        order_id=ready.pk, carrier=carrier, tracking_number=tracking_number(1), handover_method="dropoff", actor=actor
    )
    assert _clocks(ready, START + 74 * H)["ship_by"] == "met_late"


def test_a_cancelled_order_stops_its_clocks(ready, partner):
    order_cancel(order_id=ready.pk, by="seller", reason="out of stock", actor=Actor.for_partner(partner))
    assert set(_clocks(ready, START + 100 * H).values()) == {"stopped"}


def test_state_rules():
    deadline = START + 72 * H
    assert sla_state(deadline=deadline, done_at=deadline, now=deadline + H) == "met"
    assert sla_state(deadline=deadline, done_at=deadline + timedelta(seconds=1), now=deadline) == "met_late"
    assert sla_state(deadline=None, done_at=None, now=deadline) == "not_started"
    assert sla_state(deadline=deadline, done_at=None, now=deadline + H, stopped=True) == "stopped"


# --- the at-risk alert ---------------------------------------------------------------------


def _alerts(order=None):
    events = WebhookEvent.objects.filter(type="order.at_risk").order_by("id")
    if order is not None:
        events = events.filter(order_id=order.pk)
    return [(e.data["clock"], e.data["due_at"]) for e in events]


def test_one_alert_per_clock_when_it_comes_at_risk(subscribed, ready, clock):
    clock.move_to(START + 59 * H + timedelta(minutes=59))
    assert process_due_timers()["sla_alerts"] == 0
    assert _alerts() == []

    clock.move_to(START + 60 * H)
    assert process_due_timers()["sla_alerts"] == 2
    assert _alerts(ready) == [("ship_by", "2026-03-05T09:00:00Z"), ("tracking_due", "2026-03-05T09:00:00Z")]
    audit = OrderEvent.objects.filter(order=ready, action="sla_at_risk").values_list("note", flat=True)
    assert list(audit) == [
        "Ready to ship: at risk, due 2026-03-05 09:00 UTC",
        "Tracking number: at risk, due 2026-03-05 09:00 UTC",
    ]

    # Later passes, even once the clocks are late, do not repeat them.
    for hours in (61, 80, 100):
        clock.move_to(START + hours * H)
        assert process_due_timers()["sla_alerts"] == 0
    assert len(_alerts(ready)) == 2

    # The delivery clock alerts 12h before its deadline (11 days).
    clock.move_to(START + timedelta(days=11) - 12 * H)
    assert process_due_timers()["sla_alerts"] == 1
    assert _alerts(ready)[-1] == ("deliver_by", "2026-03-13T09:00:00Z")


def test_the_collection_clock_alerts_after_labelling(subscribed, ready, carrier, clock):
    actor = warehouse_actor()
    shipment_start_picking(order_id=ready.pk, actor=actor)
    shipment_pack(order_id=ready.pk, actor=actor)
    shipment_label(
        order_id=ready.pk, carrier=carrier, tracking_number=tracking_number(1), handover_method="pickup", actor=actor
    )
    labelled = START + 2 * H
    clock.move_to(labelled + 36 * H - timedelta(seconds=1))
    assert process_due_timers()["sla_alerts"] == 0
    clock.move_to(labelled + 36 * H)
    assert process_due_timers()["sla_alerts"] == 1
    assert _alerts(ready) == [("collect_by", "2026-03-04T11:00:00Z")]
    clock.move_to(labelled + 50 * H)
    assert process_due_timers()["sla_alerts"] == 0


def test_a_clock_met_in_time_never_alerts(subscribed, ready, carrier, clock):
    actor = warehouse_actor()
    shipment_start_picking(order_id=ready.pk, actor=actor)
    shipment_pack(order_id=ready.pk, actor=actor)
    shipment_label(
        order_id=ready.pk, carrier=carrier, tracking_number=tracking_number(1), handover_method="pickup", actor=actor
    )
    shipment_hand_over(order_id=ready.pk, actor=actor)
    clock.move_to(START + 100 * H)
    process_due_timers()
    assert _alerts(ready) == []


def test_an_order_found_already_late_alerts_once(subscribed, partner, seller, sku, clock):
    """A partner pushes an order days after it was placed: the alert goes out at once, saying late."""
    clock.move_to(START + 80 * H)
    order = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], placed_at=START)
    assert process_due_timers()["sla_alerts"] == 2
    assert [r.split(",")[0] for r in order.events.filter(action="sla_at_risk").values_list("note", flat=True)] == [
        "Ready to ship: late",
        "Tracking number: late",
    ]
    assert process_due_timers()["sla_alerts"] == 0


def test_cancelled_orders_do_not_alert(subscribed, ready, partner, clock):
    order_cancel(order_id=ready.pk, by="seller", reason="gone", actor=Actor.for_partner(partner))
    clock.move_to(START + 300 * H)
    assert process_due_timers()["sla_alerts"] == 0


# --- the warehouse counts -----------------------------------------------------------------


def test_counts_for_the_warehouse(partner, seller, sku, carrier, clock):
    actor = warehouse_actor()
    clock.move_to(START + 2 * H)
    late = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], placed_at=START - 80 * H)
    at_risk = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], placed_at=START - 62 * H)
    packed = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], placed_at=START)
    shipment_start_picking(order_id=packed.pk, actor=actor)
    shipment_pack(order_id=packed.pk, actor=actor)
    make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])  # pending payment: not the warehouse's yet
    assert late.status == at_risk.status == "ready_to_fulfill"

    assert fulfillment_counts(now=START + 2 * H) == {
        "to_pick": 2,
        "packed": 1,
        "at_risk": 1,
        "late": 1,
        "in_transit": 0,
        "lost": 0,
    }
