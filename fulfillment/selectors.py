"""Fulfilment reads: stock for the partner API, carriers, and the warehouse's queues, pick lists and
packing slips (the admin console builds its pages from these). SLA clocks are ``fulfillment.sla``'s."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.models import Partner
from core.paginators import bounded_count
from fulfillment.models import SKU, Carrier, ShipmentStatus
from fulfillment.sla import sla_at_risk_q, sla_late_q
from orders.models import DELIVERY_CLOCK_OPEN, NOT_SHIPPED, Order, OrderLine, OrderStatus


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


# --- the warehouse's views ------------------------------------------------------------


def to_ship_queue(*, seller_code: str | None = None, sku_code: str | None = None) -> QuerySet[Order]:
    """Orders the warehouse must still get out (``ready_to_fulfill`` or ``in_fulfillment``), most
    urgent first by ship-by deadline, with seller and shipment loaded. (None of them has a carrier
    yet: that is chosen at labelling, which takes the order out of this queue.)"""
    orders = (
        Order.objects.filter(status__in=[OrderStatus.READY_TO_FULFILL, OrderStatus.IN_FULFILLMENT])
        .select_related("seller", "shipment__carrier")
        .order_by("ship_by", "id")
    )
    if seller_code:
        orders = orders.filter(seller__code=seller_code)
    if sku_code:
        orders = orders.filter(pk__in=OrderLine.objects.filter(sku_code=sku_code).values("order_id"))
    return orders


# Lost parcels pile up with the years; their count stops here ("999+").
LOST_COUNT_BOUND = 999


def fulfillment_counts(*, now: datetime | None = None) -> dict[str, int]:
    """The warehouse's headline counts in two queries: to pick, packed, at risk, late, in transit, and lost
    (counted no further than ``LOST_COUNT_BOUND + 1``).

    Every count but lost is about orders whose delivery clock still runs, so the aggregate
    reads only those (the status index), not the order history; lost is final, so its count
    is bounded instead.
    """
    now = now or timezone.now()
    to_pick = Q(status=OrderStatus.READY_TO_FULFILL) | Q(
        status=OrderStatus.IN_FULFILLMENT, shipment__status=ShipmentStatus.PICKING
    )
    counts = Order.objects.filter(status__in=DELIVERY_CLOCK_OPEN).aggregate(
        to_pick=Count("pk", filter=to_pick),
        packed=Count("pk", filter=Q(status=OrderStatus.IN_FULFILLMENT, shipment__status=ShipmentStatus.PACKED)),
        at_risk=Count("pk", filter=sla_at_risk_q(now)),
        late=Count("pk", filter=sla_late_q(now)),
        in_transit=Count("pk", filter=Q(status=OrderStatus.IN_TRANSIT)),
    )
    return {**counts, "lost": bounded_count(Order.objects.filter(status=OrderStatus.LOST), LOST_COUNT_BOUND)}


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
    lines = (
        OrderLine.objects.filter(order_id__in=list(order_ids))
        .select_related("sku", "order")
        .order_by("sku_code", "order_id", "id")
    )
    for line in lines:
        row = rows.get(line.sku_code)
        if row is None:
            row = rows[line.sku_code] = PickListRow(
                sku_code=line.sku_code,
                sku_name=line.sku.name if line.sku else "",
                quantity=0,
                known=line.sku is not None,
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


# --- stock exceptions (the console's "Needs stock" tab) ----------------------------------------


def needs_stock_queryset(*, seller_code: str = "", sku_code: str = ""):
    """Open orders with a stock exception, the oldest first (the order arriving stock serves them in)."""
    orders = (
        Order.objects.filter(stock_exception=True, status__in=sorted(NOT_SHIPPED))
        .select_related("seller", "shipment__carrier")
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.select_related("reservation", "sku").order_by("pk"))
        )
        .order_by("placed_at", "id")
    )
    if seller_code:
        orders = orders.filter(seller__code=seller_code)
    if sku_code:
        orders = orders.filter(pk__in=OrderLine.objects.filter(sku_code=sku_code).values("order_id"))
    return orders


def needs_stock_count() -> int:
    return Order.objects.filter(stock_exception=True, status__in=sorted(NOT_SHIPPED)).count()
