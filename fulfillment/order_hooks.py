"""The warehouse's part in what happens to an order, plugged into ``orders.hooks`` at start-up.

``orders`` sits below this app and cannot call it; the project connects these
(``backoffice.wiring``):

* ``FULFILMENT``: a new order's SLA deadlines, its SKUs, and its stock reservations;
* ``on_order_status_changed``: a cancelled order's parcel is closed and its stock goes back (R7).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from core.actors import Actor
from fulfillment import sla
from fulfillment.services import (
    shipment_cancel_for_order,
    sku_ids_by_code,
    stock_release_for_order,
    stock_reserve_lines,
)
from orders.models import Order, OrderLine, OrderStatus


class WarehouseFulfilment:
    """``orders.hooks.Fulfilment``, answered by this app's services."""

    def deadlines(self, *, placed_at: datetime, given: dict[str, datetime]) -> dict[str, datetime]:
        return sla.order_deadlines(placed_at=placed_at, given=given)

    def skus_by_code(self, *, seller_id: int, codes: Iterable[str]) -> dict[str, int]:
        return sku_ids_by_code(seller_id=seller_id, codes=codes)

    def reserve(self, *, lines: Sequence[OrderLine]) -> bool:
        return stock_reserve_lines(lines=lines)


FULFILMENT = WarehouseFulfilment()


def on_order_status_changed(*, order: Order, from_status: str, action: str, actor: Actor) -> None:
    """A cancelled order's picked items go back on the shelf and its reserved stock is released.

    Runs first among the reactions, with the order locked (then the shipment,
    then stock rows: the lock order every service follows).
    """
    if order.status != OrderStatus.CANCELLED:
        return
    shipment_cancel_for_order(order=order, actor=actor)
    stock_release_for_order(order=order)
