"""The seller portal: log in, list your orders, open one.

Every page works on ``portal_seller_for_user(request.user)``, the one seller the
logged-in account belongs to; queries start from that seller's orders, so
another tenant's order is a 404. Buyer details are masked (R12).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince, timeuntil
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from backoffice.portal import selectors
from backoffice.portal.forms import OrderFilterForm, PortalAuthenticationForm
from core.privacy import mask_email, mask_name, mask_phone
from fulfillment.selectors import SlaState, order_sla_clocks
from orders.models import Order, OrderStatus
from payments.selectors import order_checkout

PAGE_SIZE = 25

S = OrderStatus

# Lost is an exception state; its tab is only shown when the seller has lost parcels.
TAB_STATUSES = [s for s in OrderStatus if s != S.LOST]

# What each audited action means to a seller (orders.services writes these names).
EVENT_LABELS = {
    "intake": "Order received",
    "mark_buyer_paid": "Buyer paid",
    "buyer_payment_failed": "Buyer's payment failed",
    "end_hold": "Hold ended",
    "confirm_seller_payment": "Wholesale payment confirmed",
    "seller_payment_recorded": "Wholesale payment recorded",
    "cancel_unpaid": "Cancelled: buyer did not pay in time",
    "cancel_by_buyer": "Cancelled by the buyer",
    "cancel_by_platform": "Cancelled by the platform",
    "cancel_by_seller": "Cancelled",
    "cancel_on_buyer_request": "Cancelled at the buyer's request",
    "cancellation_requested": "Buyer asked to cancel",
    "cancellation_request_approved": "Cancellation request approved",
    "cancellation_request_auto_approved": "Cancellation request approved automatically",
    "cancellation_request_rejected": "Cancellation request rejected",
    "cancellation_request_withdrawn": "Buyer withdrew the cancellation request",
    "return_requested": "Buyer asked for a return",
    "return_approved": "Return approved",
    "return_auto_approved": "Return approved automatically",
    "return_rejected": "Return rejected",
    "return_received": "Returned parcel received",
    "return_inspected": "Returned items inspected",
    "return_refunded": "Return settled",
    "return_replaced": "Replacement order created",
    "return_rejected_after_inspection": "Return rejected after inspection",
    "return_closed": "Return closed",
    "replacement_created": "Replacement order (no charge)",
}

# ``OrderEvent.actor`` is "kind:label"; sellers see the kind only, never staff
# usernames or connector names.
ACTOR_KINDS = {
    "system": "Automatic",
    "partner": "Marketplace",
    "staff": "Our staff",
    "seller": "Your team",
}


class PortalLoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    authentication_form = PortalAuthenticationForm
    redirect_authenticated_user = True


def seller_required(view):
    """Require a logged-in user with a seller; pass that seller to the view.

    A logged-in account without a seller (e.g. staff coming from the admin)
    gets a page saying so, with status 403, instead of an empty portal.
    """

    @wraps(view)
    @login_required
    @never_cache
    def wrapper(request, *args, **kwargs):
        seller = selectors.portal_seller_for_user(request.user)
        if seller is None:
            return render(request, "portal/no_seller.html", status=403)
        return view(request, seller, *args, **kwargs)

    return wrapper


# --- presentation helpers --------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    """A clock the seller should know about, phrased relative to now."""

    at: datetime
    passed: bool
    phrase: str


def current_deadline(order: Order, *, now: datetime, depth: int = 1) -> Deadline | None:
    """The deadline that decides what happens next to ``order``, if any.

    An unpaid order cancels at ``payment_due_at`` (R2); a paid one waits on hold
    until ``hold_until`` (R3). A deadline that has passed is still shown, as
    overdue: the timer acts on its next pass, so for a minute the order may lag.
    """
    if order.status == S.PENDING_PAYMENT and order.payment_due_at:
        at = order.payment_due_at
        upcoming, past = "Buyer must pay within {}", "Buyer's payment overdue by {}"
    elif order.status == S.ON_HOLD and order.hold_until:
        at = order.hold_until
        upcoming, past = "Hold ends in {}", "Hold ended {} ago"
    else:
        return None
    passed = at <= now
    span = timesince(at, now, depth=depth) if passed else timeuntil(at, now, depth=depth)
    return Deadline(at=at, passed=passed, phrase=(past if passed else upcoming).format(span))


CLOCK_LABELS = {
    "ship_by": "Ready to ship",
    "tracking_due": "Tracking number",
    "collect_by": "Carrier collection",
    "deliver_by": "Delivery",
}
CLOCK_STATE_LABELS = {
    SlaState.OK: "On time",
    SlaState.AT_RISK: "At risk",
    SlaState.LATE: "Late",
    SlaState.MET: "Met",
    SlaState.MET_LATE: "Met late",
    SlaState.NOT_STARTED: "Not started",
    SlaState.STOPPED: "Stopped",
}


@dataclass(frozen=True)
class ClockRow:
    label: str
    deadline: datetime | None
    done_at: datetime | None
    state: str
    state_label: str


def clock_rows(order: Order, *, now: datetime) -> list[ClockRow]:
    """The order's four SLA clocks (R8) as the seller sees them."""
    return [
        ClockRow(CLOCK_LABELS[name], clock.deadline, clock.done_at, clock.state.value, CLOCK_STATE_LABELS[clock.state])
        for name, clock in order_sla_clocks(order, now=now).items()
    ]


def sla_flag(order: Order, *, now: datetime) -> tuple[str, str] | None:
    """("late" | "at_risk", label) for the worst running clock, for the order list's badge."""
    states = {clock.state for clock in order_sla_clocks(order, now=now).values()}
    if SlaState.LATE in states:
        return ("late", "Late")
    if SlaState.AT_RISK in states:
        return ("at_risk", "At risk")
    return None


def status_label(value: str) -> str:
    try:
        return OrderStatus(value).label
    except ValueError:
        return value.replace("_", " ").capitalize()


@dataclass(frozen=True)
class LineRow:
    """One order line as the seller sees it, with what is reserved and what is wrong."""

    sku_code: str
    name: str
    quantity: int
    unit_price: int
    total: int
    reserved: int | None
    reservation_note: str
    problem: str


def line_rows(order: Order) -> list[LineRow]:
    rows = []
    for line in order.lines.all():
        reservation = getattr(line, "reservation", None)
        note = problem = ""
        if line.sku_id is None:
            problem = "This SKU is not in your catalogue, so nothing could be reserved."
        elif reservation is None:
            problem = "No stock is reserved for this line."
        elif reservation.released_at:
            note = "released"
        elif reservation.consumed_at:
            note = "shipped"
        elif reservation.quantity < line.quantity:
            problem = f"Only {reservation.quantity} of {line.quantity} reserved: not enough stock."
        rows.append(
            LineRow(
                sku_code=line.sku_code,
                name=line.sku.name if line.sku else "",
                quantity=line.quantity,
                unit_price=line.unit_price,
                total=line.quantity * line.unit_price,
                reserved=reservation.quantity if reservation else None,
                reservation_note=note,
                problem=problem,
            )
        )
    return rows


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    what: str
    from_status: str
    to_status: str
    reason: str
    by: str


def history_rows(order: Order) -> list[HistoryRow]:
    """The order's audit trail, with the actor reduced to its kind (no usernames, no connector names)."""
    rows = []
    for event in order.events.all():
        kind = event.actor.partition(":")[0]
        rows.append(
            HistoryRow(
                at=event.created_at,
                what=EVENT_LABELS.get(event.action, event.action.replace("_", " ").capitalize()),
                from_status=status_label(event.from_status) if event.from_status else "",
                to_status=status_label(event.to_status) if event.to_status != event.from_status else "",
                reason=event.reason,
                by=ACTOR_KINDS.get(kind, "Other"),
            )
        )
    return rows


def _list_query(*, status: str = "", q: str = "", page: int | None = None) -> str:
    """The order list's query string, without empty parameters (``""`` when there are none)."""
    params = {"status": status, "q": q, "page": page if page and page > 1 else ""}
    return urlencode({k: v for k, v in params.items() if v})


def _with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


# --- pages -------------------------------------------------------------------------------


@require_GET
@seller_required
def order_list(request, seller):
    """Orders with a tab per status, search and pagination; the query string survives every link."""
    filters = (form := OrderFilterForm(request.GET)).filters()
    status, q = filters["status"], filters["q"]
    counts = selectors.order_status_counts(seller=seller, q=q)
    paginator = Paginator(selectors.order_list(seller=seller, status=status, q=q), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    list_url = reverse("portal:orders")

    def list_link(*, status=status, q=q, page=None):
        return _with_query(list_url, _list_query(status=status, q=q, page=page))

    tabs = [{"status": "", "label": "All", "count": counts["all"]}]
    tabs += [{"status": s.value, "label": s.label, "count": counts[s.value]} for s in TAB_STATUSES]
    if counts[S.LOST] or status == S.LOST:
        tabs.append({"status": S.LOST.value, "label": S.LOST.label, "count": counts[S.LOST]})
    for tab in tabs:
        tab["active"] = tab["status"] == status
        tab["url"] = list_link(status=tab["status"])  # a new tab starts at page 1

    page_links = [
        {"ellipsis": True} if n == paginator.ELLIPSIS else {"number": n, "url": list_link(page=n), "current": n == page.number}
        for n in paginator.get_elided_page_range(page.number, on_each_side=1, on_ends=1)
    ]
    # The detail page links back to exactly this view of the list.
    back_query = _list_query(status=status, q=q, page=page.number)
    now = timezone.now()
    rows = [
        {
            "order": order,
            "status_label": status_label(order.status),
            "deadline": current_deadline(order, now=now),
            "sla": sla_flag(order, now=now),
            "url": _with_query(reverse("portal:order_detail", args=[order.pk]), back_query),
        }
        for order in page.object_list
    ]
    context = {
        "seller": seller,
        "form": form,
        "status": status,
        "status_label": status_label(status) if status else "All",
        "q": q,
        "tabs": tabs,
        "page": page,
        "rows": rows,
        "page_links": page_links,
        "previous_url": list_link(page=page.previous_page_number()) if page.has_previous() else "",
        "next_url": list_link(page=page.next_page_number()) if page.has_next() else "",
        "clear_search_url": list_link(q=""),
    }
    return render(request, "portal/order_list.html", context)


@require_GET
@seller_required
def order_detail(request, seller, pk: int):
    """One order: lines and reservations, deadlines, history, and the buyer masked (R12)."""
    order = get_object_or_404(selectors.order_detail_queryset(seller=seller), pk=pk)
    filters = OrderFilterForm(request.GET).filters()
    page = request.GET.get("page", "")
    back_query = _list_query(status=filters["status"], q=filters["q"], page=int(page) if page.isdigit() else None)
    lines = line_rows(order)
    now = timezone.now()
    shipment = getattr(order, "shipment", None)  # a missing one-to-one is an AttributeError subclass
    context = {
        "seller": seller,
        "order": order,
        "status_label": status_label(order.status),
        "deadline": current_deadline(order, now=timezone.now(), depth=2),
        "lines": lines,
        "order_total": sum(line.total for line in lines),
        "item_count": sum(line.quantity for line in lines),
        "line_problems": [line for line in lines if line.problem],
        "history": history_rows(order),
        "shipment": shipment,
        "clocks": clock_rows(order, now=now),
        "sla": sla_flag(order, now=now),
        "buyer": {
            "name": mask_name(order.buyer_name),
            "phone": mask_phone(order.buyer_phone),
            "email": mask_email(order.buyer_email),
            # R12: city and region only, never the street or postal code.
            "area": ", ".join(part for part in (order.ship_city, order.ship_region) if part),
        },
        "back_url": _with_query(reverse("portal:orders"), back_query),
        "cancellation": _pending_cancellation(order, now=now),
        "checkout_status": order_checkout(order).status,
    }
    return render(request, "portal/order_detail.html", context)


def _pending_cancellation(order: Order, *, now: datetime):
    """The buyer's pending cancellation request (R5) as the Requests tab shows it, if there is one."""
    from backoffice.portal.requests import cancellation_row
    from returns.selectors import order_pending_cancellation_request

    pending = order_pending_cancellation_request(order)
    return cancellation_row(pending, now=now) if pending is not None else None


# --- performance (R14) ------------------------------------------------------------------------

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
        for p in selectors.seller_performance(seller=seller, now=now)
    ]
    weeks = selectors.seller_weekly_dispatch(seller=seller, now=now)
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
