"""The portal's Returns page: the seller's returns (R11), open ones first by default, with where each stands,
what came back, and the outcome (refund to the seller, or the replacement order).

Answering a requested return happens on the Requests tab (``portal.requests``);
this page links there. It reads only ``portal_seller_for_user``'s returns, so
another seller's return never appears.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from core.display import Countdown, countdown
from portal.auth import seller_required
from returns.models import ReturnRequest, ReturnStatus
from returns.selectors import seller_returns

PAGE_SIZE = 25

# What each status means for the seller, in their words.
STATUS_PHRASES = {
    ReturnStatus.REQUESTED: "Waiting for your answer",
    ReturnStatus.APPROVED: "Approved; the refund is being decided",
    ReturnStatus.AUTO_APPROVED: "Approved automatically; the refund is being decided",
    ReturnStatus.REJECTED: "Rejected",
    ReturnStatus.AWAITING_RETURN_SHIPMENT: "Approved; waiting for the buyer to send it back",
    ReturnStatus.IN_TRANSIT: "On its way back to the warehouse",
    ReturnStatus.RECEIVED: "Received; being inspected",
    ReturnStatus.INSPECTED: "Inspected; the outcome is being decided",
    ReturnStatus.REFUNDED: "Settled",
    ReturnStatus.REPLACED: "Replaced",
    ReturnStatus.REJECTED_AFTER_INSPECTION: "Rejected after inspection",
    ReturnStatus.CLOSED: "Closed",
}
STATUS_TONES = {
    ReturnStatus.REQUESTED: "warning",
    ReturnStatus.REJECTED: "cancelled",
    ReturnStatus.REJECTED_AFTER_INSPECTION: "cancelled",
    ReturnStatus.REFUNDED: "delivered",
    ReturnStatus.REPLACED: "delivered",
    ReturnStatus.CLOSED: "cancelled",
}


@dataclass(frozen=True)
class ReturnRow:
    ret: ReturnRequest
    phrase: str
    tone: str
    items: list[str]
    order_url: str
    countdown: Countdown | None
    replacement_url: str


def _items(ret: ReturnRequest) -> list[str]:
    """``2 × TSHIRT-M``, with what came back and what inspection found once known."""
    items = []
    for line in ret.lines.all():
        text = f"{line.quantity} × {line.order_line.sku_code}"
        if line.resellable_quantity is not None:
            text += f" ({line.resellable_quantity} back in stock, {line.damaged_quantity} damaged)"
        elif line.received_quantity is not None:
            text += f" ({line.received_quantity} received)"
        items.append(text)
    return items


def return_row(ret: ReturnRequest, *, now) -> ReturnRow:
    return ReturnRow(
        ret=ret,
        phrase=STATUS_PHRASES[ret.status],
        tone=STATUS_TONES.get(ret.status, "in_transit"),
        items=_items(ret),
        order_url=reverse("portal:order_detail", args=[ret.order_id]),
        countdown=countdown(ret.respond_by, now=now) if ret.status == ReturnStatus.REQUESTED else None,
        replacement_url=reverse("portal:order_detail", args=[ret.replacement_order_id])
        if ret.replacement_order_id
        else "",
    )


@require_GET
@seller_required
def return_list(request, seller):
    """Open returns (default) or all of them, newest first, in pages."""
    show_all = request.GET.get("show") == "all"
    returns = seller_returns(seller=seller, open_only=not show_all)
    counts = {
        "open": seller_returns(seller=seller, open_only=True).count(),
        "all": seller_returns(seller=seller).count(),
    }
    page = Paginator(returns, PAGE_SIZE).get_page(request.GET.get("page"))
    base = reverse("portal:returns")

    def link(*, show_all=show_all, page_number=None) -> str:
        params = {"show": "all" if show_all else "", "page": page_number if page_number and page_number > 1 else ""}
        query = urlencode({k: v for k, v in params.items() if v})
        return f"{base}?{query}" if query else base

    now = timezone.now()
    context = {
        "seller": seller,
        "show_all": show_all,
        "tabs": [
            {"label": "Open", "count": counts["open"], "url": link(show_all=False), "active": not show_all},
            {"label": "All", "count": counts["all"], "url": link(show_all=True), "active": show_all},
        ],
        "rows": [return_row(ret, now=now) for ret in page.object_list],
        "page": page,
        "previous_url": link(page_number=page.previous_page_number()) if page.has_previous() else "",
        "next_url": link(page_number=page.next_page_number()) if page.has_next() else "",
        "requests_url": reverse("portal:requests"),
    }
    return render(request, "portal/returns.html", context)
