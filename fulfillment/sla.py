"""Processing deadlines (DOMAIN.md R8): every rule of the SLA clocks lives here.

An order has four clocks:

* ``ship_by``: labelled (ready to ship) within ``SHIP_BY_WINDOW`` of ``placed_at``;
* ``tracking_due``: a tracking number within ``TRACKING_WINDOW`` of ``placed_at``;
* ``collect_by``: with the carrier within the collection window of labelling
  (``COLLECTION_WINDOW_PICKUP`` or ``_DROPOFF``, by handover method);
* ``deliver_by``: delivered within ``DELIVERY_WINDOW`` of ``placed_at``.

The deadlines are columns (``Order.ship_by``, ``tracking_due``, ``deliver_by``
and ``Shipment.collect_by``), fixed when the order or the label is made, and
indexed for the alert timer. A clock is "at risk" from ``AT_RISK_LEAD`` before
its deadline and "late" after it; each running clock sends one
``order.at_risk`` alert (``order_sla_alert``, run by ``fulfillment.timers``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from operator import or_

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.actors import Actor
from core.display import local_time
from fulfillment import notify
from fulfillment.locks import lock_shipment
from fulfillment.models import Handover, ShipmentStatus
from orders.models import DELIVERY_CLOCK_OPEN, SHIP_CLOCK_OPEN, Order, OrderAction, OrderStatus
from orders.services import order_event_record


class SlaClockName(models.TextChoices):
    SHIP_BY = "ship_by", "Ready to ship"
    TRACKING_DUE = "tracking_due", "Tracking number"
    COLLECT_BY = "collect_by", "Carrier collection"
    DELIVER_BY = "deliver_by", "Delivery"


class SlaState(models.TextChoices):
    OK = "ok", "On time"
    AT_RISK = "at_risk", "At risk"  # within AT_RISK_LEAD of the deadline
    LATE = "late", "Late"  # past the deadline, not done
    MET = "met", "Met"  # done at or before the deadline
    MET_LATE = "met_late", "Met late"  # done, after the deadline
    NOT_STARTED = "not_started", "Not started"  # no deadline yet (collection counts from labelling)
    STOPPED = "stopped", "Stopped"  # the order was cancelled or lost before the clock was met


SLA_CLOCKS = tuple(SlaClockName.values)


@dataclass(frozen=True)
class SlaClock:
    deadline: datetime | None
    state: SlaState
    done_at: datetime | None = field(default=None)


# --- deadlines -------------------------------------------------------------------------------


# The SLA deadlines a marketplace may set on an order instead of our windows (R16).
MARKETPLACE_SLA_FIELDS = ("ship_by", "tracking_due", "collect_by", "deliver_by")


def order_deadlines(*, placed_at: datetime, given: dict[str, datetime] | None = None) -> dict[str, datetime]:
    """A new order's deadlines, by ``Order`` field (set at creation).

    Our windows count from the placement time; a deadline the marketplace gave
    (``given``) replaces its window (R16). ``collect_by`` has no window here: without
    one from the marketplace, the parcel's collection clock starts at labelling.
    """
    deadlines = {
        "ship_by": placed_at + settings.SHIP_BY_WINDOW,
        "tracking_due": placed_at + settings.TRACKING_WINDOW,
        "deliver_by": placed_at + settings.DELIVERY_WINDOW,
    }
    deadlines.update({name: value for name, value in (given or {}).items() if name in MARKETPLACE_SLA_FIELDS and value})
    return deadlines


def collection_deadline(*, handover_method: str, labelled_at: datetime, given: datetime | None = None) -> datetime:
    """When the carrier must have a parcel labelled at ``labelled_at``: it depends on who moves it,
    unless the marketplace set the order's own deadline (``given``, R16)."""
    if given is not None:
        return given
    window = (
        settings.COLLECTION_WINDOW_PICKUP if handover_method == Handover.PICKUP else settings.COLLECTION_WINDOW_DROPOFF
    )
    return labelled_at + window


# --- clock states ----------------------------------------------------------------------------


def sla_state(*, deadline: datetime | None, done_at: datetime | None, now: datetime, stopped: bool = False) -> SlaState:
    """One clock's state at ``now``. A clock is late strictly after its deadline and at risk from
    ``deadline - AT_RISK_LEAD`` up to the deadline itself."""
    if done_at is not None and deadline is not None:
        return SlaState.MET if done_at <= deadline else SlaState.MET_LATE
    if stopped:
        return SlaState.STOPPED
    if deadline is None:
        return SlaState.NOT_STARTED
    if now > deadline:
        return SlaState.LATE
    if now >= deadline - settings.AT_RISK_LEAD:
        return SlaState.AT_RISK
    return SlaState.OK


def _shipment_of(order: Order):
    try:
        return order.shipment
    except ObjectDoesNotExist:
        return None


def order_sla_clocks(order: Order, *, now: datetime | None = None) -> dict[str, SlaClock]:
    """The order's four clocks with their state at ``now`` (default: the current time).

    Reads ``order.shipment`` (select it with the order to avoid a query per order).
    """
    now = now or timezone.now()
    shipment = _shipment_of(order)
    stopped = order.status in (OrderStatus.CANCELLED, OrderStatus.LOST)
    labelled_at = shipment.labelled_at if shipment is not None else None
    clocks = {
        SlaClockName.SHIP_BY: (order.ship_by, order.shipped_at),
        SlaClockName.TRACKING_DUE: (order.tracking_due, labelled_at or order.shipped_at),
        SlaClockName.COLLECT_BY: (
            shipment.collect_by if shipment is not None else None,
            shipment.picked_up_at if shipment is not None else None,
        ),
        SlaClockName.DELIVER_BY: (order.deliver_by, order.delivered_at),
    }
    return {
        str(name): SlaClock(
            deadline=deadline, state=sla_state(deadline=deadline, done_at=done, now=now, stopped=stopped), done_at=done
        )
        for name, (deadline, done) in clocks.items()
    }


def order_sla_worst(order: Order, *, now: datetime | None = None) -> SlaState | None:
    """``LATE`` if any running clock is past its deadline, else ``AT_RISK`` if one is close, else None.

    The badge an order list shows; reads ``order.shipment`` like ``order_sla_clocks``.
    """
    states = {clock.state for clock in order_sla_clocks(order, now=now).values()}
    return next((state for state in (SlaState.LATE, SlaState.AT_RISK) if state in states), None)


# Each clock as (the condition under which it still runs, its deadline column), for SQL filters.
_RUNNING_CLOCKS = [
    (Q(status__in=SHIP_CLOCK_OPEN), "ship_by"),
    (Q(status__in=SHIP_CLOCK_OPEN), "tracking_due"),
    (Q(shipment__status=ShipmentStatus.LABELLED), "shipment__collect_by"),
    (Q(status__in=DELIVERY_CLOCK_OPEN), "deliver_by"),
]


def sla_late_q(now: datetime) -> Q:
    """Orders with any running clock past its deadline."""
    return reduce(or_, (running & Q(**{f"{column}__lt": now}) for running, column in _RUNNING_CLOCKS))


def sla_at_risk_q(now: datetime) -> Q:
    """Orders with a running clock inside its at-risk lead and none late (so at risk and late never overlap)."""
    lead_end = now + settings.AT_RISK_LEAD
    at_risk = reduce(
        or_, (running & Q(**{f"{column}__gte": now, f"{column}__lte": lead_end}) for running, column in _RUNNING_CLOCKS)
    )
    return at_risk & ~sla_late_q(now)


# --- alerts ----------------------------------------------------------------------------------


def order_sla_alert(*, order: Order, clock: str, actor: Actor, now: datetime | None = None) -> bool:
    """Tell the partner, once, that one of the order's clocks is at risk or already late.

    Marks the clock alerted (``<clock>_alerted_at``, or the shipment's
    ``collect_alerted_at``) so no later pass sends it again, writes an audit
    row and an ``order.at_risk`` outbox event. Returns False when the clock
    no longer needs an alert (met meanwhile). ``now`` is the timer pass's time (default: the clock).
    Precondition: the caller holds the order's lock.
    """
    now = now or timezone.now()
    state = order_sla_clocks(order, now=now)[clock]
    if state.state not in (SlaState.AT_RISK, SlaState.LATE):
        return False
    if clock == SlaClockName.COLLECT_BY:
        shipment = lock_shipment(order)
        if shipment is None or shipment.collect_alerted_at is not None:
            return False
        shipment.collect_alerted_at = now
        shipment.save(update_fields=["collect_alerted_at", "updated_at"])
    else:
        alerted = f"{clock}_alerted_at"
        if getattr(order, alerted) is not None:
            return False
        setattr(order, alerted, now)
        order.save(update_fields=[alerted])
    order_event_record(
        order=order,
        action=OrderAction.SLA_AT_RISK,
        from_status=order.status,
        actor=actor,
        note=(f"{SlaClockName(clock).label}: {state.state.label.lower()}, due {local_time(state.deadline)}"),
    )
    notify.order_at_risk(order=order, clock=clock, due_at=state.deadline)
    return True
