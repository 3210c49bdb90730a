"""The seller portal's orders: the list with its status tabs and search, and one order's page.

Every page works on ``portal_seller_for_user(request.user)``, the one seller the
logged-in account belongs to; queries start from that seller's orders, so
another tenant's order is a 404. Buyer details are masked (R12).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from core.display import local_time
from core.exports import download_response, safe_dataset
from core.paginators import BoundedCountPaginator, bounded_label
from core.privacy import mask_email, mask_name, mask_phone
from fulfillment.sla import SlaClockName, order_sla_clocks, order_sla_worst
from orders.models import Order, OrderStatus
from payments.selectors import PAYABLE_STATUSES, WARNING_MESSAGES, checkout_quote, order_checkout
from portal import selectors
from portal.auth import seller_required
from portal.display import current_deadline, status_label
from portal.forms import OrderFilterForm
from portal.requests import cancellation_row
from returns.selectors import order_pending_cancellation_request
from tiktok.selectors import order_calls

PAGE_SIZE = 25
# The list pages through a seller's newest 2,500 orders (100 pages) and says "more than
# 2,500" past that; counting further would cost a scan of the seller's whole history on
# every visit. Search, a status tab or the CSV download reach older orders.
LIST_COUNT_BOUND = 100 * PAGE_SIZE


# Lost is an exception state; its tab is only shown when the seller has lost parcels.
TAB_STATUSES = [s for s in OrderStatus if s != OrderStatus.LOST]

# ``OrderEvent.actor`` is "kind:label"; sellers see the kind only, never staff
# usernames or connector names.
ACTOR_KINDS = {
    "system": "Automatic",
    "partner": "Marketplace",
    "staff": "Our staff",
    "seller": "Your team",
}


# --- presentation helpers --------------------------------------------------------------


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
        ClockRow(SlaClockName(name).label, clock.deadline, clock.done_at, clock.state.value, clock.state.label)
        for name, clock in order_sla_clocks(order, now=now).items()
    ]


def sla_flag(order: Order, *, now: datetime) -> tuple[str, str] | None:
    """("late" | "at_risk", label) for the worst running clock, for the order list's badge."""
    worst = order_sla_worst(order, now=now)
    return (worst.value, worst.label) if worst is not None else None


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
                what=event.get_action_display(),
                from_status=status_label(event.from_status) if event.from_status else "",
                to_status=status_label(event.to_status) if event.to_status != event.from_status else "",
                reason=event.note,
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
    paginator = BoundedCountPaginator(
        selectors.order_list(seller=seller, status=status, q=q), PAGE_SIZE, bound=LIST_COUNT_BOUND
    )
    page = paginator.get_page(request.GET.get("page"))
    list_url = reverse("portal:orders")

    def list_link(*, status=status, q=q, page=None):
        return _with_query(list_url, _list_query(status=status, q=q, page=page))

    tabs = [{"status": "", "label": "All", "count": counts["all"]}]
    tabs += [{"status": s.value, "label": s.label, "count": counts[s.value]} for s in TAB_STATUSES]
    if counts[OrderStatus.LOST] or status == OrderStatus.LOST:
        tabs.append(
            {"status": OrderStatus.LOST.value, "label": OrderStatus.LOST.label, "count": counts[OrderStatus.LOST]}
        )
    for tab in tabs:
        tab["count_label"] = bounded_label(tab["count"], selectors.TAB_COUNT_BOUND)
        tab["active"] = tab["status"] == status
        tab["url"] = list_link(status=tab["status"])  # a new tab starts at page 1

    page_links = [
        {"ellipsis": True}
        if n == paginator.ELLIPSIS
        else {"number": n, "url": list_link(page=n), "current": n == page.number}
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
        "export_url": _with_query(reverse("portal:order_export"), _list_query(status=status, q=q)),
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
        "wholesale": _wholesale(order, seller=seller),
        "tiktok_calls": order_calls(order),
    }
    return render(request, "portal/order_detail.html", context)


def _wholesale(order: Order, *, seller) -> dict | None:
    """What paying this order would cost the seller, and whether they can pay it now (the "Pay now" box), for an
    order that still waits for its wholesale payment; None otherwise."""
    if order.status not in PAYABLE_STATUSES or order.seller_paid_at is not None:
        return None
    [line] = checkout_quote(seller=seller, order_ids=[order.pk], pay_despite_cancellation=True).lines
    return {
        "amount": line.amount,
        "problem": line.message if line.problem else "",
        "warnings": [WARNING_MESSAGES[w] for w in line.warnings if w != "cancellation_pending"],
        "cancellation_pending": line.cancellation_pending,
        "pay_url": f"{reverse('portal:unpaid')}?{urlencode({'order': order.pk})}#pay-title",
    }


@require_GET
@seller_required
def order_export(request, seller):
    """The orders of the current tab and search, as CSV (formula-safe cells, the buyer masked as on the pages)."""
    filters = OrderFilterForm(request.GET).filters()
    rows = [
        (
            order.pk,
            order.external_id,
            local_time(order.placed_at),
            status_label(order.status),
            order.item_count or 0,
            Decimal(order.total or 0).scaleb(-2),
            "yes" if order.stock_exception else "no",
            mask_name(order.buyer_name),
            ", ".join(part for part in (order.ship_city, order.ship_region) if part),
        )
        for order in selectors.order_list(seller=seller, status=filters["status"], q=filters["q"]).iterator()
    ]
    headers = ["order", "marketplace order", "placed", "status", "items", "buyer total", "stock exception"]
    headers += ["buyer", "ships to"]
    name = f"orders-{seller.code}" + (f"-{filters['status']}" if filters["status"] else "")
    return download_response(safe_dataset(headers, rows), name=name)


def _pending_cancellation(order: Order, *, now: datetime):
    """The buyer's pending cancellation request (R5) as the Requests tab shows it, if there is one."""
    pending = order_pending_cancellation_request(order)
    return cancellation_row(pending, now=now) if pending is not None else None
