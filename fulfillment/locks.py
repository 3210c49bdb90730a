"""Every fulfilment row lock goes through here: shipments, and stock rows in primary-key order.

Lock order, everywhere: the order (``orders.locks``), then its shipment, then
stock rows by pk. Never the other way round, so two transactions can never
wait on each other in a cycle.
"""

from collections.abc import Iterable

from fulfillment.models import Shipment, Stock
from orders import hooks


def lock_stock_for_skus(sku_ids: Iterable[int]) -> dict[int, Stock]:
    """Lock the stock rows of ``sku_ids`` in pk order; return them keyed by sku id.

    Precondition: inside ``transaction.atomic()``.
    """
    ids = sorted({sku_id for sku_id in sku_ids if sku_id is not None})
    if not ids:
        return {}
    # Whoever locks stock rows is about to change them: a marketplace showing their stock must hear of it (R17).
    hooks.marketplace().stock_changing(sku_ids=ids)
    rows = Stock.objects.select_for_update().filter(sku_id__in=ids).order_by("pk")
    return {stock.sku_id: stock for stock in rows}


def lock_shipment(order) -> Shipment | None:
    """Lock ``order``'s shipment (None if it has none) and return it re-read, with its carrier.

    Precondition: inside ``transaction.atomic()`` with ``order`` already locked
    (``orders.locks.lock_order``): the order first, then its shipment, then stock.
    The returned shipment is also cached as ``order.shipment``, so code reading
    the order afterwards (the status-change effects) sees the fresh row.
    """
    shipment = (
        Shipment.objects.select_for_update(of=("self",)).select_related("carrier").filter(order_id=order.pk).first()
    )
    if shipment is not None:
        shipment.order = order
    return shipment
