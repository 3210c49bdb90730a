"""Order reads for the partner API (and anything else that shows orders to a partner).

Every query here is scoped to one partner: an order of another partner is
simply not found, which the API turns into a 404 (tenant isolation).
"""

from __future__ import annotations

from functools import cache

from django.db.models import QuerySet

from backoffice import sql
from backoffice.models import Partner, Seller
from orders.models import Order


def order_list(*, partner: Partner) -> QuerySet[Order]:
    """The partner's orders, with everything an order response shows loaded up front.

    Lines and their reservations come in one extra query for the whole page,
    whatever its size, so listing 50 orders costs what listing 5 does.
    """
    return (
        Order.objects.filter(partner=partner)
        .select_related("seller")
        .prefetch_related("lines__reservation")
    )


def order_get(*, partner: Partner, order_id: int) -> Order | None:
    """One of the partner's orders, or None when it does not exist or belongs to another partner."""
    return order_list(partner=partner).filter(pk=order_id).first()


def partner_seller_get(*, partner: Partner, code: str) -> Seller | None:
    """The seller with ``code`` if ``partner`` may act for it, else None.

    Unknown and unlinked sellers look the same, so a partner cannot probe which seller codes exist.
    """
    rows = sql.fetch_all(f"SELECT {sql.columns(Seller, 's')} {_partner_seller_source()}", [partner.pk, code])
    return sql.from_row(Seller, rows[0]) if rows else None


def partner_seller_source(*, partner_id: int, code: str) -> tuple[str, list, str]:
    """``(FROM ... WHERE ..., params, id)``: the rest of a SELECT that finds the seller
    ``partner_seller_get`` finds (at most one row), and the SQL of that seller's id in it.

    For statements that look the seller up as part of their own work (order
    intake's INSERT and stock lock) instead of asking for it first.
    """
    return _partner_seller_source(), [partner_id, code], _seller_id()


def partner_seller_id(*, partner_id: int, code: str) -> sql.Expression:
    """The id of the seller ``partner_seller_get`` finds, as a scalar subquery (NULL when there is none)."""
    return sql.Expression(f"(SELECT {_seller_id()} {_partner_seller_source()})", (partner_id, code))


@cache
def _seller_id() -> str:
    return f"s.{sql.quote(Seller._meta.pk.column)}"


@cache
def _partner_seller_source() -> str:
    # Hand-written: every order a partner pushes needs it, and the ORM's
    # ``partner.sellers.filter(code=code)`` cost several times more to build than to run.
    link = Partner._meta.get_field("sellers")
    q = sql.quote
    return (
        f"FROM {q(Seller._meta.db_table)} s"
        f" JOIN {q(link.m2m_db_table())} l ON l.{q(link.m2m_reverse_name())} = s.{q(Seller._meta.pk.column)}"
        f" WHERE l.{q(link.m2m_column_name())} = %s AND s.{q(Seller._meta.get_field('code').column)} = %s"
    )
