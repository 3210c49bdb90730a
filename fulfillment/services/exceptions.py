"""Stock exceptions resolved (R1): a line matched to a SKU of the seller's catalogue, and stock that
arrives given to the orders waiting for it, first come, first served.

An order is flagged (``stock_exception``) while some line is not fully
reserved: its SKU is unknown, or there was not enough stock. It cannot be
picked. Staff resolve it by remapping the line to an existing SKU of the same
seller (``order_line_remap``), by bringing stock in (the import and
``stock_allocate`` give arriving stock to the waiting lines in ``placed_at``
order), or by cancelling the order. The flag clears once every line is reserved.

Lock order, as everywhere: the orders (in pk order), then stock rows (in pk
order). One allocation pass locks every order it may serve before any stock
row, and takes only what is available under the stock locks, so it can never
oversell whatever intakes and imports run at the same time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.actors import Actor
from core.errors import InvalidInput, NotFound, TransitionRefused
from fulfillment.locks import lock_stock_for_skus
from fulfillment.models import SKU, Reservation, Stock
from fulfillment.services.carriers import require
from orders.locks import lock_order, lock_orders
from orders.models import NOT_SHIPPED, Order, OrderAction, OrderLine
from orders.services import order_event_record

logger = logging.getLogger(__name__)

REMAP_PERMISSION = "fulfillment.work_shipment"
# Orders still to be filled: a stock exception can be resolved on these only.
OPEN_STATUSES = sorted(NOT_SHIPPED)


# --- what is short, per line ---------------------------------------------------------------------


@dataclass(frozen=True)
class LineShortfall:
    """One line that is not fully reserved, and why, in words for staff and sellers."""

    line: OrderLine
    reserved: int
    reason: str


def line_shortfalls(order: Order) -> list[LineShortfall]:
    """The order's lines that keep it flagged, each with its reason (reads lines with their reservation)."""
    found = []
    for line in order.lines.all():
        reservation = getattr(line, "reservation", None)
        reserved = reservation.quantity if reservation is not None and reservation.is_active else 0
        if line.sku_id is None:
            reason = f"{line.sku_code} is not in the seller's catalogue: match it to one of their SKUs."
        elif reserved >= line.quantity:
            continue
        elif reserved:
            reason = f"Only {reserved} of {line.quantity} reserved: not enough stock."
        else:
            reason = f"None of the {line.quantity} reserved: no stock."
        found.append(LineShortfall(line=line, reserved=reserved, reason=reason))
    return found


def waiting_order_ids(sku_ids: Iterable[int]) -> list[int]:
    """Open orders flagged for a stock exception with a line of one of ``sku_ids`` (not locked)."""
    return list(
        Order.objects.filter(stock_exception=True, status__in=OPEN_STATUSES, lines__sku_id__in=list(sku_ids))
        .values_list("pk", flat=True)
        .distinct()
    )


# --- allocation --------------------------------------------------------------------------------


def _fully_reserved(order: Order) -> bool:
    lines = list(OrderLine.objects.filter(order=order).select_related("reservation"))
    for line in lines:
        reservation = getattr(line, "reservation", None)
        if line.sku_id is None or reservation is None or not reservation.is_active:
            return False
        if reservation.quantity < line.quantity:
            return False
    return True


def stock_allocate_locked(*, orders: list[Order], sku_ids: Iterable[int], actor: Actor) -> list[Order]:
    """Give the stock available for ``sku_ids`` to the waiting lines of ``orders``, oldest ``placed_at`` first;
    clear the flag of every order that is now fully reserved and return those orders.

    Precondition: inside ``transaction.atomic()`` with ``orders`` locked, and no
    stock row locked before them (the caller may hold the same stock rows: it
    locked them after the orders).
    """
    open_orders = {o.pk: o for o in orders if o.stock_exception and o.status in NOT_SHIPPED}
    wanted_skus = set(sku_ids)
    if not open_orders or not wanted_skus:
        return []
    lines = list(
        OrderLine.objects.filter(order_id__in=open_orders, sku_id__in=wanted_skus)
        .select_related("reservation")
        .order_by("order__placed_at", "order_id", "pk")
    )
    stocks = lock_stock_for_skus(line.sku_id for line in lines)
    taken: dict[int, int] = {}
    touched: set[int] = set()
    for line in lines:
        stock = stocks.get(line.sku_id)
        reservation = getattr(line, "reservation", None)
        if stock is None or (reservation is not None and not reservation.is_active):
            continue
        have = reservation.quantity if reservation is not None else 0
        extra = max(min(line.quantity - have, stock.available - taken.get(stock.pk, 0)), 0)
        if not extra:
            continue
        taken[stock.pk] = taken.get(stock.pk, 0) + extra
        touched.add(line.order_id)
        if reservation is None:
            Reservation.objects.create(line=line, sku_id=line.sku_id, quantity=extra)
        else:
            Reservation.objects.filter(pk=reservation.pk).update(quantity=F("quantity") + extra)
    now = timezone.now()
    for stock_pk, quantity in taken.items():
        Stock.objects.filter(pk=stock_pk).update(reserved=F("reserved") + quantity, updated_at=now)
    cleared = []
    for order_id in sorted(touched):
        order = open_orders[order_id]
        if _fully_reserved(order):
            order.stock_exception = False
            order.save(update_fields=["stock_exception", "updated_at"])
            order_event_record(order=order, action=OrderAction.STOCK_ALLOCATED, from_status=order.status, actor=actor)
            cleared.append(order)
    if taken:
        logger.info("stock allocated to %d waiting order(s) by %s; %d cleared", len(touched), actor, len(cleared))
    return cleared


def stock_allocate(*, sku_ids: Iterable[int], actor: Actor) -> list[Order]:
    """Stock came in for ``sku_ids`` (an import, an adjustment, returned units): give it to the orders
    waiting for it, first come, first served, in one locked pass. Returns the orders it cleared.

    Safe to run any number of times: what is reserved is never given again.
    """
    sku_ids = set(sku_ids)
    with transaction.atomic():
        orders = lock_orders(waiting_order_ids(sku_ids))
        return stock_allocate_locked(orders=orders, sku_ids=sku_ids, actor=actor)


# --- remapping a line --------------------------------------------------------------------------


def order_line_remap(*, line_id: int, sku_code: str, actor: Actor, note: str = "") -> OrderLine:
    """Match a line to an existing SKU of the order's seller (e.g. a typo in the marketplace's SKU): the
    line now picks that SKU, stock is reserved for it, and the change is in the order's history.

    Any stock the line held for its former SKU goes back. Refused: another
    seller's or an unknown SKU (``unknown_sku``), a shipped or cancelled order
    (``not_open``). Remapping to the SKU it already has only tops it up.
    Warehouse staff (``fulfillment.work_shipment``).
    """
    require(actor, REMAP_PERMISSION, "You do not have permission to fix order lines.")
    order_id = OrderLine.objects.filter(pk=line_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise NotFound(f"Order line {line_id} not found.", code="line_not_found")
    sku_code = (sku_code or "").strip()
    with transaction.atomic():
        order = lock_order(order_id)
        if order.status not in NOT_SHIPPED:
            raise TransitionRefused(
                f"Order {order.pk} is {order.get_status_display().lower()}; only open orders can be changed.",
                code="not_open",
            )
        sku = SKU.objects.filter(seller_id=order.seller_id, code=sku_code).first()
        if sku is None:
            raise InvalidInput(
                f"{order.seller.code} has no SKU {sku_code!r}; choose one of the seller's SKUs.", code="unknown_sku"
            )
        line = OrderLine.objects.select_related("reservation").get(pk=line_id)
        reservation = getattr(line, "reservation", None)
        before = line.sku_code
        if line.sku_id != sku.pk:
            if reservation is not None and reservation.is_active and reservation.quantity:
                stocks = lock_stock_for_skus([reservation.sku_id])
                Stock.objects.filter(pk=stocks[reservation.sku_id].pk).update(
                    reserved=F("reserved") - reservation.quantity, updated_at=timezone.now()
                )
            if reservation is not None:
                # The line keeps one reservation row (one-to-one); it starts again, empty, on the new SKU.
                Reservation.objects.filter(pk=reservation.pk).update(
                    sku_id=sku.pk, quantity=0, released_at=None, consumed_at=None
                )
            line.sku, line.sku_code = sku, sku.code
            line.save(update_fields=["sku", "sku_code"])
            order_event_record(
                order=order,
                action=OrderAction.LINE_REMAPPED,
                from_status=order.status,
                actor=actor,
                note="; ".join(filter(None, [f"{before} → {sku.code}", note])),
            )
        # The pass reserves the remapped line (and clears the flag, with its history line, once all is reserved).
        order.stock_exception = True
        stock_allocate_locked(orders=[order], sku_ids=[sku.pk], actor=actor)
        order.stock_exception = not _fully_reserved(order)
        order.save(update_fields=["stock_exception", "updated_at"])
    line.refresh_from_db()
    return line
