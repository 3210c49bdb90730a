"""Reads for the seller portal.

Every function takes the seller explicitly and starts from that seller's
orders, so a portal page cannot reach another tenant's rows by construction:
an order id from another seller simply is not in the queryset (404).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Avg, Count, DurationField, Exists, ExpressionWrapper, F, OuterRef, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from backoffice.models import Seller, SellerMembership
from orders.models import CancelledBy, Order, OrderEvent, OrderLine, OrderStatus

# Order ids are 64-bit integers; a longer run of digits can only be an external id,
# and passing it to ``pk=`` would overflow the database integer.
_MAX_ORDER_ID_DIGITS = 18


def portal_seller_for_user(user) -> Seller | None:
    """The seller a logged-in user acts for in the portal, or None for staff and other accounts."""
    if not user.is_authenticated:
        return None
    membership = SellerMembership.objects.select_related("seller").filter(user=user).first()
    return membership.seller if membership else None


def _seller_orders(seller: Seller) -> QuerySet[Order]:
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


def order_status_counts(*, seller: Seller, q: str = "") -> dict[str, int]:
    """Orders per status for the tabs, plus ``"all"``, in one aggregate query.

    The counts follow the search, so a seller who searched sees which tab holds the matches.
    """
    aggregates = {status: Count("pk", filter=Q(status=status)) for status in OrderStatus.values}
    return _search(_seller_orders(seller), q).aggregate(all=Count("pk"), **aggregates)


def order_list(*, seller: Seller, status: str = "", q: str = "") -> QuerySet[Order]:
    """The seller's orders, newest first, with item count and buyer total for each row."""
    queryset = _search(_seller_orders(seller), q)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.annotate(
        item_count=Sum("lines__quantity"),
        total=Sum(F("lines__quantity") * F("lines__unit_price")),
    ).select_related("shipment").order_by("-placed_at", "-id")


def order_detail_queryset(*, seller: Seller) -> QuerySet[Order]:
    """The seller's orders with lines, reservations and history loaded for the detail page.

    Look the order up in this queryset: another seller's order id is then "not found".
    """
    return _seller_orders(seller).select_related("shipment__carrier").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.select_related("sku", "reservation").order_by("id")),
        Prefetch("events", queryset=OrderEvent.objects.order_by("created_at", "id")),
    )


# --- performance (R14) ---------------------------------------------------------------------

PERFORMANCE_PERIODS = (7, 30, 90)
# The chart shows this many weeks, ending today.
CHART_WEEKS = 13


@dataclass(frozen=True)
class PeriodPerformance:
    """Dispatch, cancellation and return figures over the last ``days``. An order counts as shipped when
    it was labelled. Free replacement orders (of a return) are not sales and count nowhere."""

    days: int
    shipped: int
    late: int
    average_time_to_ship: timedelta | None
    placed: int = 0  # orders placed in the period, less those the unpaid timer cancelled (never real sales)
    cancelled: int = 0  # of those, the ones cancelled since (by the buyer, platform, seller or staff)
    delivered: int = 0  # orders delivered in the period
    returned: int = 0  # of those, the ones with a return that was not rejected

    @property
    def late_rate(self) -> float | None:
        """Orders labelled after their ship-by deadline ÷ orders labelled in the period (None if none shipped)."""
        return self.late / self.shipped if self.shipped else None

    @property
    def cancellation_rate(self) -> float | None:
        """Cancelled ÷ placed in the period, both without unpaid orders the timer cancelled (None if none placed)."""
        return self.cancelled / self.placed if self.placed else None

    @property
    def return_rate(self) -> float | None:
        """Orders delivered in the period with a return not rejected ÷ orders delivered in the period.
        Recent periods may still rise: a delivered order can be returned until its return window ends."""
        return self.returned / self.delivered if self.delivered else None


@dataclass(frozen=True)
class WeekPerformance:
    start: date
    shipped: int
    late: int


_LATE = Q(shipped_at__gt=F("ship_by"))
_TIME_TO_SHIP = ExpressionWrapper(F("shipped_at") - F("placed_at"), output_field=DurationField())


def _shipped_since(seller: Seller, since: datetime, now: datetime) -> QuerySet[Order]:
    return _seller_orders(seller).filter(shipped_at__gt=since, shipped_at__lte=now)


def seller_performance(*, seller: Seller, now: datetime | None = None) -> list[PeriodPerformance]:
    """Late dispatch rate and average time to ship (``shipped_at - placed_at``) for orders labelled,
    cancellation rate for orders placed, and return rate for orders delivered, over the last 7, 30
    and 90 days, in one aggregate query (see ``PeriodPerformance`` for the definitions)."""
    from returns.models import ReturnRequest
    from returns.selectors import RETURN_REJECTED

    now = now or timezone.now()
    since = now - timedelta(days=max(PERFORMANCE_PERIODS))
    orders = (
        _seller_orders(seller)
        .filter(
            Q(shipped_at__gt=since, shipped_at__lte=now)
            | Q(placed_at__gt=since, placed_at__lte=now)
            | Q(delivered_at__gt=since, delivered_at__lte=now)
        )
        .annotate(
            is_replacement=Exists(ReturnRequest.objects.filter(replacement_order=OuterRef("pk"))),
            has_return=Exists(ReturnRequest.objects.filter(order=OuterRef("pk")).exclude(status__in=RETURN_REJECTED)),
        )
    )
    # Sales only: not free replacements, and (for cancellations) not orders the buyer never paid.
    placed = Q(is_replacement=False, placed_at__lte=now) & ~Q(cancelled_by=CancelledBy.SYSTEM)
    delivered = Q(is_replacement=False, delivered_at__lte=now)
    aggregates = {}
    for days in PERFORMANCE_PERIODS:
        start = now - timedelta(days=days)
        shipped = Q(shipped_at__gt=start, shipped_at__lte=now)
        aggregates[f"shipped_{days}"] = Count("pk", filter=shipped)
        aggregates[f"late_{days}"] = Count("pk", filter=shipped & _LATE)
        aggregates[f"time_{days}"] = Avg(_TIME_TO_SHIP, filter=shipped)
        aggregates[f"placed_{days}"] = Count("pk", filter=placed & Q(placed_at__gt=start))
        aggregates[f"cancelled_{days}"] = Count("pk", filter=placed & Q(placed_at__gt=start, status=OrderStatus.CANCELLED))
        aggregates[f"delivered_{days}"] = Count("pk", filter=delivered & Q(delivered_at__gt=start))
        aggregates[f"returned_{days}"] = Count("pk", filter=delivered & Q(delivered_at__gt=start, has_return=True))
    row = orders.aggregate(**aggregates)
    return [
        PeriodPerformance(
            days=d, shipped=row[f"shipped_{d}"], late=row[f"late_{d}"], average_time_to_ship=row[f"time_{d}"],
            placed=row[f"placed_{d}"], cancelled=row[f"cancelled_{d}"],
            delivered=row[f"delivered_{d}"], returned=row[f"returned_{d}"],
        )
        for d in PERFORMANCE_PERIODS
    ]


def seller_weekly_dispatch(*, seller: Seller, now: datetime | None = None) -> list[WeekPerformance]:
    """Orders labelled, and how many of them late, per week for the last ``CHART_WEEKS`` weeks
    (oldest first; the last week ends today). One grouped query: a row per day with shipments."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    first_day = today - timedelta(days=CHART_WEEKS * 7 - 1)
    since = timezone.make_aware(datetime.combine(first_day, datetime.min.time()))
    days = (
        _shipped_since(seller, since, now)
        .annotate(day=TruncDate("shipped_at"))
        .values("day")
        .annotate(shipped=Count("pk"), late=Count("pk", filter=_LATE))
        .order_by("day")
    )
    weeks = [WeekPerformance(start=first_day + timedelta(days=7 * i), shipped=0, late=0) for i in range(CHART_WEEKS)]
    for row in days:
        index = min(max((row["day"] - first_day).days // 7, 0), CHART_WEEKS - 1)
        week = weeks[index]
        weeks[index] = WeekPerformance(start=week.start, shipped=week.shipped + row["shipped"], late=week.late + row["late"])
    return weeks
