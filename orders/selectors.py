"""Order reads for the partner API (and anything else that shows orders to a partner).

Every query here is scoped to one partner: an order of another partner is
simply not found, which the API turns into a 404 (tenant isolation).
"""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Partner, Seller
from orders.models import Order


def order_list(*, partner: Partner) -> QuerySet[Order]:
    """The partner's orders, with everything an order response shows loaded up front.

    The seller and the parcel with its carrier are joined in; lines and their
    reservations come in one extra query for the whole page, whatever its
    size, so listing 50 orders costs what listing 5 does.
    """
    return (
        Order.objects.filter(partner=partner)
        .select_related("seller", "shipment__carrier")
        .prefetch_related("lines__reservation")
    )


def order_get(*, partner: Partner, order_id: int) -> Order | None:
    """One of the partner's orders, or None when it does not exist or belongs to another partner."""
    return order_list(partner=partner).filter(pk=order_id).first()


def partner_seller_get(*, partner: Partner, code: str) -> Seller | None:
    """The seller with ``code`` if ``partner`` may act for it, else None.

    Unknown and unlinked sellers look the same, so a partner cannot probe which seller codes exist.
    """
    return partner.sellers.filter(code=code).first()
