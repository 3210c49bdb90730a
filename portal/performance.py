"""Seller performance (DOMAIN.md R14): every figure, and the page that shows them.

* late dispatch rate: orders labelled after ``ship_by`` ÷ orders labelled in the period;
* average time to ship: labelled time − placed time;
* cancellation rate: orders placed in the period that were cancelled ÷ orders
  placed, leaving out orders the buyer never paid;
* return rate: orders delivered in the period with a return that was not
  rejected ÷ orders delivered.

Replacement orders count in none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Avg, Count, DurationField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.models import Seller
from orders.models import CancelledBy, Order, OrderStatus
from portal.auth import seller_required
from portal.selectors import seller_orders
from returns.models import ReturnRequest
from returns.selectors import RETURN_REJECTED

# --- the figures ---------------------------------------------------------------------------------

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
    return seller_orders(seller).filter(shipped_at__gt=since, shipped_at__lte=now)


def seller_performance(*, seller: Seller, now: datetime | None = None) -> list[PeriodPerformance]:
    """Late dispatch rate and average time to ship (``shipped_at - placed_at``) for orders labelled,
    cancellation rate for orders placed, and return rate for orders delivered, over the last 7, 30
    and 90 days, in one aggregate query (see ``PeriodPerformance`` for the definitions)."""

    now = now or timezone.now()
    since = now - timedelta(days=max(PERFORMANCE_PERIODS))
    orders = (
        seller_orders(seller)
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
        aggregates[f"cancelled_{days}"] = Count(
            "pk", filter=placed & Q(placed_at__gt=start, status=OrderStatus.CANCELLED)
        )
        aggregates[f"delivered_{days}"] = Count("pk", filter=delivered & Q(delivered_at__gt=start))
        aggregates[f"returned_{days}"] = Count("pk", filter=delivered & Q(delivered_at__gt=start, has_return=True))
    row = orders.aggregate(**aggregates)
    return [
        PeriodPerformance(
            days=d,
            shipped=row[f"shipped_{d}"],
            late=row[f"late_{d}"],
            average_time_to_ship=row[f"time_{d}"],
            placed=row[f"placed_{d}"],
            cancelled=row[f"cancelled_{d}"],
            delivered=row[f"delivered_{d}"],
            returned=row[f"returned_{d}"],
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
        weeks[index] = WeekPerformance(
            start=week.start, shipped=week.shipped + row["shipped"], late=week.late + row["late"]
        )
    return weeks


# --- the page -----------------------------------------------------------------------------------

CHART_HEIGHT = 160
CHART_BAR_WIDTH = 28
CHART_GAP = 12


def _hours(delta) -> float | None:
    return round(delta.total_seconds() / 3600, 1) if delta is not None else None


@require_GET
@seller_required
def performance(request, seller):
    """Late dispatch rate and average time to ship over 7, 30 and 90 days, and a weekly chart
    (an inline SVG drawn here: no chart library, no CDN)."""
    now = timezone.now()
    periods = [
        {
            "days": p.days,
            "shipped": p.shipped,
            "late": p.late,
            "late_rate": round(p.late_rate * 100, 1) if p.late_rate is not None else None,
            "hours_to_ship": _hours(p.average_time_to_ship),
            "placed": p.placed,
            "cancelled": p.cancelled,
            "cancellation_rate": round(p.cancellation_rate * 100, 1) if p.cancellation_rate is not None else None,
            "delivered": p.delivered,
            "returned": p.returned,
            "return_rate": round(p.return_rate * 100, 1) if p.return_rate is not None else None,
        }
        for p in seller_performance(seller=seller, now=now)
    ]
    weeks = seller_weekly_dispatch(seller=seller, now=now)
    top = max([w.shipped for w in weeks] + [1])
    bars = []
    for i, week in enumerate(weeks):
        height = round(CHART_HEIGHT * week.shipped / top)
        late_height = round(CHART_HEIGHT * week.late / top)
        x = CHART_GAP + i * (CHART_BAR_WIDTH + CHART_GAP)
        bars.append(
            {
                "week": week,
                "x": x,
                "label_x": x + CHART_BAR_WIDTH // 2,
                "y": CHART_HEIGHT - height,
                "height": height,
                "late_y": CHART_HEIGHT - late_height,
                "late_height": late_height,
                "on_time_height": height - late_height,
            }
        )
    context = {
        "seller": seller,
        "periods": periods,
        "bars": bars,
        "chart": {
            "width": CHART_GAP + len(weeks) * (CHART_BAR_WIDTH + CHART_GAP),
            "height": CHART_HEIGHT,
            "bar_width": CHART_BAR_WIDTH,
            "top": top,
        },
        "weeks": weeks,
    }
    return render(request, "portal/performance.html", context)
