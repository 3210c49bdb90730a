"""Fulfilment deadlines, moved by the project's timer pass (``backoffice.timers``):

- a parcel not delivered ``LOST_AFTER`` after labelling, or at its
  ``LOST_AFTER_FAILED_ATTEMPTS``-th failed attempt, is lost (R9);
- each SLA clock (R8, ``fulfillment.sla``) sends one ``order.at_risk`` alert
  when it comes within ``AT_RISK_LEAD`` of its deadline (or is found already past it).

Every pass runs over ``Order`` rows, even for deadlines kept on the shipment,
so the timer takes the order's lock first like every service does (order, then
shipment, then stock): a timer and a service can never wait on each other in a
cycle. Failures are written to the order's ``timer_error`` and retried on the next pass.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from core.actors import Actor
from core.timers import process_due
from fulfillment.models import SHIPMENT_OUT, ShipmentStatus
from fulfillment.services import shipment_mark_lost
from fulfillment.sla import SlaClockName, order_sla_alert
from orders.models import DELIVERY_CLOCK_OPEN, SHIP_CLOCK_OPEN, Order, OrderStatus

TIMER = Actor.system("timer")


def _alert(clock: str, now: datetime):
    def handle(order: Order) -> None:
        order_sla_alert(order=order, clock=clock, actor=TIMER, now=now)

    return handle


def process_due_fulfillment(*, now: datetime) -> dict[str, int]:
    counts = {
        "shipments_lost": process_due(
            model=Order,
            deadline="shipment__lost_deadline",
            now=now,
            handle=lambda order: shipment_mark_lost(order=order, actor=TIMER),
            status__in=[OrderStatus.SHIPPED, OrderStatus.IN_TRANSIT],
            shipment__status__in=SHIPMENT_OUT,
        ),
    }
    # An alert is due once the deadline is within the lead: deadline <= now + lead.
    alert_at = now + settings.AT_RISK_LEAD
    alerts = [
        process_due(
            model=Order,
            deadline="ship_by",
            now=alert_at,
            handle=_alert(SlaClockName.SHIP_BY, now),
            status__in=SHIP_CLOCK_OPEN,
            ship_by_alerted_at=None,
        ),
        process_due(
            model=Order,
            deadline="tracking_due",
            now=alert_at,
            handle=_alert(SlaClockName.TRACKING_DUE, now),
            status__in=SHIP_CLOCK_OPEN,
            tracking_due_alerted_at=None,
        ),
        process_due(
            model=Order,
            deadline="shipment__collect_by",
            now=alert_at,
            handle=_alert(SlaClockName.COLLECT_BY, now),
            status=OrderStatus.SHIPPED,
            shipment__status=ShipmentStatus.LABELLED,
            shipment__collect_alerted_at=None,
        ),
        process_due(
            model=Order,
            deadline="deliver_by",
            now=alert_at,
            handle=_alert(SlaClockName.DELIVER_BY, now),
            status__in=DELIVERY_CLOCK_OPEN,
            deliver_by_alerted_at=None,
        ),
    ]
    counts["sla_alerts"] = sum(alerts)
    return counts
