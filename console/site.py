"""The operator console: Django's admin with queue counts on the index page."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse

from fulfillment.selectors import fulfillment_counts
from orders.models import NOT_SHIPPED, Order, OrderStatus
from tiktok.selectors import tiktok_counts
from webhooks.services import webhook_counts


@dataclass(frozen=True)
class Queue:
    """One work queue on the index page: how many orders wait in it, and the order list filtered to them."""

    label: str
    count: int
    url: str


class ConsoleSite(admin.AdminSite):
    site_header = "Back-office"
    site_title = "Back-office"
    index_title = "Operations"
    index_template = "admin/console/index.html"

    def index(self, request, extra_context=None):
        extra_context = extra_context or {}
        if request.user.has_perm("orders.view_order"):
            extra_context["queues"] = order_queues()
            if request.user.has_perm("fulfillment.view_shipment"):
                extra_context["fulfillment_queues"] = fulfillment_queues()
        if request.user.has_perm("webhooks.view_webhookevent"):
            extra_context["webhook_queues"] = webhook_queues()
        if request.user.has_perm("tiktok.view_shop"):
            extra_context["tiktok_queues"] = tiktok_queues()
        return super().index(request, extra_context)


def tiktok_queues() -> list[Queue]:
    """TikTok shops whose seller must connect them again, and TikTok events that failed."""
    counts = tiktok_counts()
    shops = reverse("admin:tiktok_shop_changelist")
    events = reverse("admin:tiktok_tiktokevent_changelist")
    return [
        Queue(
            "TikTok shops to connect again",
            counts["needs_reconnect"],
            f"{shops}?{urlencode({'status__exact': 'token_expired'})}",
        ),
        Queue("TikTok events failed", counts["failed_events"], f"{events}?{urlencode({'status__exact': 'failed'})}"),
    ]


def webhook_queues() -> list[Queue]:
    """Partner webhooks that need staff (parked) or are failing and still retrying."""
    counts = webhook_counts()
    changelist = reverse("admin:webhooks_webhookevent_changelist")
    return [
        Queue("Parked webhooks", counts["parked"], f"{changelist}?{urlencode({'status__exact': 'parked'})}"),
        Queue("Webhooks retrying", counts["retrying"], f"{changelist}?{urlencode({'retrying': 'yes'})}"),
    ]


def fulfillment_queues() -> list[Queue]:
    """The warehouse's counts (``fulfillment_counts``, one query), next to the order queues.

    To pick and packed open the warehouse console; at risk, late, in transit and
    lost open the order list, since those clocks run on shipped orders too.
    """
    counts = fulfillment_counts()
    console = reverse("admin:fulfillment_console")
    orders = reverse("admin:orders_order_changelist")
    return [
        Queue("To pick", counts["to_pick"], f"{console}?{urlencode({'step': 'to_pick'})}"),
        Queue("Packed", counts["packed"], f"{console}?{urlencode({'step': 'packed'})}"),
        Queue("At risk", counts["at_risk"], f"{orders}?{urlencode({'sla': 'at_risk'})}"),
        Queue("Late", counts["late"], f"{orders}?{urlencode({'sla': 'late'})}"),
        Queue(
            "In transit", counts["in_transit"], f"{orders}?{urlencode({'status__exact': OrderStatus.IN_TRANSIT.value})}"
        ),
        Queue("Lost", counts["lost"], f"{orders}?{urlencode({'status__exact': OrderStatus.LOST.value})}"),
    ]


def order_queues() -> list[Queue]:
    """The order queues staff work from, counted in one aggregate query.

    Only unshipped orders are read, so on PostgreSQL the count walks the
    ``(status, stock_exception)`` index over open orders instead of the whole
    order history. A stock exception is only a queue while something can still
    be done about it, i.e. before the order ships.
    """
    by_status = [
        OrderStatus.PENDING_PAYMENT,
        OrderStatus.ON_HOLD,
        OrderStatus.AWAITING_CHECKOUT,
        OrderStatus.READY_TO_FULFILL,
    ]
    open_statuses = sorted(NOT_SHIPPED)
    counts = Order.objects.filter(status__in=open_statuses).aggregate(
        **{status.value: Count("pk", filter=Q(status=status)) for status in by_status},
        stock_exception=Count("pk", filter=Q(stock_exception=True)),
    )
    changelist = reverse("admin:orders_order_changelist")
    queues = [
        Queue(status.label, counts[status.value], f"{changelist}?{urlencode({'status__exact': status.value})}")
        for status in by_status
    ]
    exception_filter = {"stock_exception__exact": "1", "status__in": ",".join(open_statuses)}
    queues.append(Queue("Stock exceptions", counts["stock_exception"], f"{changelist}?{urlencode(exception_filter)}"))
    return queues
