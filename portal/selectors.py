"""Reads for the seller portal.

Every function takes the seller explicitly and starts from that seller's
orders, so a portal page cannot reach another tenant's rows by construction:
an order id from another seller simply is not in the queryset (404).
"""

from __future__ import annotations

from django.db.models import (
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
)

from accounts.models import Seller, SellerMembership
from core.paginators import BoundedCount
from orders.models import Order, OrderEvent, OrderLine, OrderStatus

# Order ids are 64-bit integers; a longer run of digits can only be an external id,
# and passing it to ``pk=`` would overflow the database integer.
_MAX_ORDER_ID_DIGITS = 18

# Tab counts stop here and read "99+" past it: a seller with years of history would
# otherwise count every order they ever had on each visit to the list.
TAB_COUNT_BOUND = 99


def portal_seller_for_user(user) -> Seller | None:
    """The seller a logged-in user acts for in the portal, or None for staff and other accounts."""
    if not user.is_authenticated:
        return None
    membership = SellerMembership.objects.select_related("seller").filter(user=user).first()
    return membership.seller if membership else None


def seller_orders(seller: Seller) -> QuerySet[Order]:
    return Order.objects.filter(seller=seller)


def _search(queryset: QuerySet[Order], q: str) -> QuerySet[Order]:
    """Match the order id, the marketplace's external id or a line's SKU code.

    The SKU match is an ``EXISTS`` rather than a join so that an order with
    several matching lines still appears (and is counted) once.
    """
    q = q.strip()
    if not q:
        return queryset
    condition = Q(external_id__icontains=q) | Exists(
        OrderLine.objects.filter(order=OuterRef("pk"), sku_code__icontains=q)
    )
    digits = q.removeprefix("#")
    if digits.isdigit() and len(digits) <= _MAX_ORDER_ID_DIGITS:
        condition |= Q(pk=int(digits))
    return queryset.filter(condition)


def order_status_counts(*, seller: Seller, q: str = "", bound: int | None = None) -> dict[str, int]:
    """Orders per status for the tabs, plus ``"all"``, each counted no further than ``bound + 1``, in one query.

    A count above ``bound`` (default ``TAB_COUNT_BOUND``) means "more than ``bound``" (the tab shows "99+"). Each
    count reads at most ``bound + 1`` entries of the ``(seller, status, placed_at)``
    index, so the query costs the same for a seller with a thousand orders as for
    one with a million. The counts follow the search, so a seller who searched sees
    which tab holds the matches.
    """
    bound = TAB_COUNT_BOUND if bound is None else bound
    orders = _search(seller_orders(seller), q).order_by().values("pk")
    counts = {status: BoundedCount(orders.filter(status=status)[: bound + 1]) for status in OrderStatus.values}
    return Seller.objects.filter(pk=seller.pk).values(all=BoundedCount(orders[: bound + 1]), **counts).get()


def order_list(*, seller: Seller, status: str = "", q: str = "") -> QuerySet[Order]:
    """The seller's orders, newest first, with item count and buyer total for each row.

    The sums are correlated subqueries rather than a join with ``GROUP BY``: grouping would
    aggregate every order of the seller before the newest 25 could be picked, while a
    subquery runs only for the rows of the page, which the ``(seller, placed_at)`` and
    ``(seller, status, placed_at)`` indexes hand over already sorted.
    """
    queryset = _search(seller_orders(seller), q)
    if status:
        queryset = queryset.filter(status=status)
    lines = OrderLine.objects.filter(order=OuterRef("pk")).order_by().values("order")
    return (
        queryset.annotate(
            item_count=Subquery(lines.annotate(n=Sum("quantity")).values("n")),
            total=Subquery(lines.annotate(t=Sum(F("quantity") * F("unit_price"))).values("t")),
        )
        .select_related("shipment")
        .order_by("-placed_at", "-id")
    )


def order_detail_queryset(*, seller: Seller) -> QuerySet[Order]:
    """The seller's orders with lines, reservations and history loaded for the detail page.

    Look the order up in this queryset: another seller's order id is then "not found".
    """
    return (
        seller_orders(seller)
        .select_related("shipment__carrier")
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.select_related("sku", "reservation").order_by("id")),
            Prefetch("events", queryset=OrderEvent.objects.order_by("created_at", "id")),
        )
    )
