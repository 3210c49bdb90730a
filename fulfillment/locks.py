"""Every fulfilment row lock goes through here: shipments, and stock rows in primary-key order.

Lock order, everywhere: the order (``orders.locks``), then its shipment, then
stock rows by pk. Never the other way round, so two transactions can never
wait on each other in a cycle.
"""

from collections.abc import Iterable

from django.db import connection

from backoffice import sql
from fulfillment.models import SKU, Shipment, Stock


def lock_stock_for_skus(sku_ids: Iterable[int]) -> dict[int, Stock]:
    """Lock the stock rows of ``sku_ids`` in pk order; return them keyed by sku id.

    Precondition: inside ``transaction.atomic()``.
    """
    ids = sorted({sku_id for sku_id in sku_ids if sku_id is not None})
    if not ids:
        return {}
    rows = Stock.objects.select_for_update().filter(sku_id__in=ids).order_by("pk")
    return {stock.sku_id: stock for stock in rows}


def lock_stock_for_sku_codes(*, seller_id: int, codes: Iterable[str]) -> dict[str, Stock]:
    """Lock the stock rows of ``seller_id``'s SKUs with these ``codes`` in pk order; return them keyed
    by SKU code, each with its SKU loaded (``stock.sku``).

    One query both finds the SKUs and locks their stock, for callers that only
    know codes (intake). Only the stock rows are locked, as ``lock_stock_for_skus``
    does. Codes without a SKU, and SKUs without a stock row, are absent from the
    result. Precondition: inside ``transaction.atomic()``.
    """
    statement = lock_stock_for_sku_codes_statement(seller_id=seller_id, codes=codes)
    sql.run(statement)
    return statement.result if statement is not None else {}


def lock_stock_for_sku_codes_statement(*, seller_id: int | sql.Expression, codes: Iterable[str]) -> sql.Statement | None:
    """``lock_stock_for_sku_codes`` as a statement for ``sql.run`` (its result is the same dict);
    None when there are no codes. ``seller_id`` may be an expression, e.g. a subquery that finds
    the seller in the same round trip."""
    codes = sorted(set(codes))
    if not codes:
        return None
    # Hand-written: intake runs this for every order, and the ORM's version of
    # this join cost three times what PostgreSQL spent running it.
    q = sql.quote
    stock, sku = Stock._meta, SKU._meta
    lock = ""
    if connection.features.has_select_for_update:  # SQLite has no row locks: its writer holds the whole file
        lock = " " + connection.ops.for_update_sql(of=("st",))
    width = len(stock.concrete_fields)
    seller_sql, seller_params = (seller_id.sql, list(seller_id.params)) if isinstance(seller_id, sql.Expression) else ("%s", [seller_id])

    def read(cursor) -> dict[str, Stock]:
        locked = {}
        for row in cursor.fetchall():
            row_stock = sql.from_row(Stock, row)
            row_stock.sku = sql.from_row(SKU, row, width)
            locked[row_stock.sku.code] = row_stock
        return locked

    return sql.Statement(
        f"SELECT {sql.columns(Stock, 'st')}, {sql.columns(SKU, 'k')}"
        f" FROM {q(stock.db_table)} st JOIN {q(sku.db_table)} k ON k.{q(sku.pk.column)} = st.{q(stock.get_field('sku').column)}"
        f" WHERE k.{q(sku.get_field('seller').column)} = {seller_sql} AND k.{q(sku.get_field('code').column)} IN ({sql.placeholders(len(codes))})"
        f" ORDER BY st.{q(stock.pk.column)}{lock}",
        [*seller_params, *codes],
        read,
    )


def lock_shipment(order) -> Shipment | None:
    """Lock ``order``'s shipment (None if it has none) and return it re-read, with its carrier.

    Precondition: inside ``transaction.atomic()`` with ``order`` already locked
    (``orders.locks.lock_order``): the order first, then its shipment, then stock.
    The returned shipment is also cached as ``order.shipment``, so code reading
    the order afterwards (the status-change effects) sees the fresh row.
    """
    shipment = Shipment.objects.select_for_update(of=("self",)).select_related("carrier").filter(order_id=order.pk).first()
    if shipment is not None:
        shipment.order = order
    return shipment
