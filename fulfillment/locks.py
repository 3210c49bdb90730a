"""Every stock row lock goes through here, always taken in primary-key order.

Callers lock orders (``orders.locks``) before stock, never the other way round,
so two transactions can never wait on each other in a cycle.
"""

from collections.abc import Iterable

from fulfillment.models import Stock


def lock_stock_for_skus(sku_ids: Iterable[int]) -> dict[int, Stock]:
    """Lock the stock rows of ``sku_ids`` in pk order; return them keyed by sku id.

    Precondition: inside ``transaction.atomic()``.
    """
    ids = sorted({sku_id for sku_id in sku_ids if sku_id is not None})
    if not ids:
        return {}
    rows = Stock.objects.select_for_update().filter(sku_id__in=ids).order_by("pk")
    return {stock.sku_id: stock for stock in rows}
