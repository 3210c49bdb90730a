"""Fulfilment reads: stock for the partner API, carriers, SLA clocks, and the warehouse's queues,
pick lists and packing slips (the admin console builds its pages from these)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import reduce
from operator import or_

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from backoffice.models import Partner
from fulfillment.models import SKU, Carrier, ShipmentStatus
from orders.models import DELIVERY_CLOCK_OPEN, SHIP_CLOCK_OPEN, Order, OrderLine, OrderStatus

S = OrderStatus


def stock_list(*, partner: Partner) -> QuerySet[SKU]:
    """Every SKU of the sellers ``partner`` may act for, with its seller and stock row loaded.

    Listed by SKU rather than by stock row so that a SKU without a stock row
    still shows, with nothing available, instead of vanishing from the
    partner's inventory sync.
    """
    return SKU.objects.filter(seller__partners=partner).select_related("seller", "stock")


def carrier_list(*, active_only: bool = True) -> QuerySet[Carrier]:
    """The carriers staff keep; only active ones can label parcels."""
    carriers = Carrier.objects.all()
    return carriers.filter(active=True) if active_only else carriers


# --- SLA clocks (R8) ----------------------------------------------------------------


class SlaState(StrEnum):
    OK = "ok"
    AT_RISK = "at_risk"  # within AT_RISK_LEAD of the deadline
    LATE = "late"  # past the deadline, not done
    MET = "met"  # done at or before the deadline
    MET_LATE = "met_late"  # done, after the deadline
    NOT_STARTED = "not_started"  # no deadline yet (collection counts from labelling)
    STOPPED = "stopped"  # the order was cancelled or lost before the clock was met


SLA_CLOCKS = ("ship_by", "tracking_due", "collect_by", "deliver_by")


@dataclass(frozen=True)
class SlaClock:
    deadline: datetime | None
    state: SlaState
    done_at: datetime | None = field(default=None)


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
    stopped = order.status in (S.CANCELLED, S.LOST)
    labelled_at = shipment.labelled_at if shipment is not None else None
    clocks = {
        "ship_by": (order.ship_by, order.shipped_at),
        "tracking_due": (order.tracking_due, labelled_at or order.shipped_at),
        "collect_by": (
            shipment.collect_by if shipment is not None else None,
            shipment.picked_up_at if shipment is not None else None,
        ),
        "deliver_by": (order.deliver_by, order.delivered_at),
    }
    return {
        name: SlaClock(deadline=deadline, state=sla_state(deadline=deadline, done_at=done, now=now, stopped=stopped), done_at=done)
        for name, (deadline, done) in clocks.items()
    }


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


# --- the warehouse's views ------------------------------------------------------------


def to_ship_queue(*, seller_code: str | None = None, sku_code: str | None = None) -> QuerySet[Order]:
    """Orders the warehouse must still get out (``ready_to_fulfill`` or ``in_fulfillment``), most
    urgent first by ship-by deadline, with seller and shipment loaded. (None of them has a carrier
    yet: that is chosen at labelling, which takes the order out of this queue.)"""
    orders = (
        Order.objects.filter(status__in=[S.READY_TO_FULFILL, S.IN_FULFILLMENT])
        .select_related("seller", "shipment__carrier")
        .order_by("ship_by", "id")
    )
    if seller_code:
        orders = orders.filter(seller__code=seller_code)
    if sku_code:
        orders = orders.filter(pk__in=OrderLine.objects.filter(sku_code=sku_code).values("order_id"))
    return orders


def fulfillment_counts(*, now: datetime | None = None) -> dict[str, int]:
    """The warehouse's headline counts in one query: to pick, packed, at risk, late, in transit, lost."""
    now = now or timezone.now()
    to_pick = Q(status=S.READY_TO_FULFILL) | Q(status=S.IN_FULFILLMENT, shipment__status=ShipmentStatus.PICKING)
    return Order.objects.aggregate(
        to_pick=Count("pk", filter=to_pick),
        packed=Count("pk", filter=Q(status=S.IN_FULFILLMENT, shipment__status=ShipmentStatus.PACKED)),
        at_risk=Count("pk", filter=sla_at_risk_q(now)),
        late=Count("pk", filter=sla_late_q(now)),
        in_transit=Count("pk", filter=Q(status=S.IN_TRANSIT)),
        lost=Count("pk", filter=Q(status=S.LOST)),
    )


@dataclass
class PickListRow:
    sku_code: str
    sku_name: str
    quantity: int
    known: bool
    orders: list[tuple[Order, int]] = field(default_factory=list)


def pick_list(*, order_ids) -> list[PickListRow]:
    """One line per SKU for a selection of orders: the total to pick and which orders take how many.

    Unknown SKUs (a stock exception) are listed too, flagged, so the picker
    sees the whole order. Sorted by SKU code, the way shelves are labelled.
    """
    rows: OrderedDict[str, PickListRow] = OrderedDict()
    lines = OrderLine.objects.filter(order_id__in=list(order_ids)).select_related("sku", "order").order_by("sku_code", "order_id", "id")
    for line in lines:
        row = rows.get(line.sku_code)
        if row is None:
            row = rows[line.sku_code] = PickListRow(
                sku_code=line.sku_code, sku_name=line.sku.name if line.sku else "", quantity=0, known=line.sku is not None
            )
        row.quantity += line.quantity
        row.orders.append((line.order, line.quantity))
    return list(rows.values())


def packing_slips(*, order_ids) -> QuerySet[Order]:
    """The orders to print packing slips for, with lines, SKUs, seller and shipment loaded in two queries."""
    return (
        Order.objects.filter(pk__in=list(order_ids))
        .select_related("seller", "shipment__carrier")
        .prefetch_related("lines__sku")
        .order_by("ship_by", "id")
    )
