"""The operator console: Django's admin with queue counts on the index page."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from core.paginators import bounded_label
from fulfillment.selectors import LOST_COUNT_BOUND, fulfillment_counts, needs_stock_count
from orders.models import NOT_SHIPPED, Order, OrderStatus
from payments.models import AutoCheckout, LedgerMethod, Refund, RefundStatus
from returns.models import CancellationRequest, CancellationStatus, ReturnRequest, ReturnStatus, ReturnType
from tiktok.selectors import tiktok_counts
from webhooks.services import webhook_counts


@dataclass(frozen=True)
class Queue:
    """One work queue on the index page: how many orders wait in it, and the order list filtered to them."""

    label: str
    count: int
    url: str
    # Set for a count that stops at ``bound`` (it reads "999+" past it).
    bound: int | None = None

    @property
    def display(self) -> str:
        return bounded_label(self.count, self.bound) if self.bound is not None else str(self.count)


class ConsoleSite(admin.AdminSite):
    site_header = "Back-office"
    site_title = "Back-office"
    index_title = "Operations"
    index_template = "admin/console/index.html"

    def index(self, request, extra_context=None):
        """A tile per team with what waits for it today, each count linking to the list behind it."""
        extra_context = extra_context or {}
        user = request.user
        tiles = []
        if user.has_perm("orders.view_order") and user.has_perm("fulfillment.view_shipment"):
            tiles.append(("Warehouse", reverse("admin:fulfillment_console"), warehouse_queues()))
        if user.has_perm("returns.view_cancellationrequest") and user.has_perm("returns.view_returnrequest"):
            tiles.append(("Support", None, support_queues()))
        if user.has_perm("payments.view_payment") and user.has_perm("returns.view_returnrequest"):
            tiles.append(("Finance", None, finance_queues()))
        extra_context["team_tiles"] = tiles
        extra_context["time_zone"] = settings.TIME_ZONE
        if user.has_perm("orders.view_order"):
            extra_context["queues"] = order_queues()
        if user.has_perm("webhooks.view_webhookevent"):
            extra_context["webhook_queues"] = webhook_queues()
        if request.user.has_perm("tiktok.view_shop"):
            extra_context["tiktok_queues"] = tiktok_queues()
        return super().index(request, extra_context)


def tiktok_queues() -> list[Queue]:
    """TikTok shops whose seller must connect them again, TikTok events that failed, and calls to TikTok
    (the "TikTok sync" queue) that are parked or were refused."""
    counts = tiktok_counts()
    shops = reverse("admin:tiktok_shop_changelist")
    events = reverse("admin:tiktok_tiktokevent_changelist")
    calls = reverse("admin:tiktok_tiktokcall_changelist")
    return [
        Queue(
            "TikTok shops to connect again",
            counts["needs_reconnect"],
            f"{shops}?{urlencode({'status__exact': 'token_expired'})}",
        ),
        Queue("TikTok events failed", counts["failed_events"], f"{events}?{urlencode({'status__exact': 'failed'})}"),
        Queue("TikTok sync: parked calls", counts["parked_calls"], f"{calls}?{urlencode({'status__exact': 'parked'})}"),
        Queue(
            "TikTok sync: refused calls", counts["refused_calls"], f"{calls}?{urlencode({'status__exact': 'rejected'})}"
        ),
    ]


def webhook_queues() -> list[Queue]:
    """Partner webhooks that need staff (parked) or are failing and still retrying."""
    counts = webhook_counts()
    changelist = reverse("admin:webhooks_webhookevent_changelist")
    return [
        Queue("Parked webhooks", counts["parked"], f"{changelist}?{urlencode({'status__exact': 'parked'})}"),
        Queue("Webhooks retrying", counts["retrying"], f"{changelist}?{urlencode({'retrying': 'yes'})}"),
    ]


RETURNS_TO_RECEIVE = [ReturnStatus.AWAITING_RETURN_SHIPMENT, ReturnStatus.IN_TRANSIT]


def warehouse_queues() -> list[Queue]:
    """What the warehouse has today: orders to pick, pack and hand over, orders waiting for stock, parcels
    coming back, and the clocks that run out (``fulfillment_counts``, two queries, and three small counts).

    To pick, packed, to hand over and needs stock open the warehouse console;
    at risk, late, in transit and lost open the order list, since those clocks
    run on shipped orders too.
    """
    counts = fulfillment_counts()
    console = reverse("admin:fulfillment_console")
    orders = reverse("admin:orders_order_changelist")
    returns = reverse("admin:returns_returnrequest_changelist")
    return [
        Queue("To pick", counts["to_pick"], f"{console}?{urlencode({'step': 'to_pick'})}"),
        Queue("Packed", counts["packed"], f"{console}?{urlencode({'step': 'packed'})}"),
        Queue(
            "To hand over",
            Order.objects.filter(status=OrderStatus.SHIPPED).count(),
            f"{console}?{urlencode({'stage': 'collection'})}",
        ),
        Queue("Needs stock", needs_stock_count(), f"{console}?{urlencode({'stage': 'needs_stock'})}"),
        Queue(
            "Returns to receive",
            ReturnRequest.objects.filter(status__in=RETURNS_TO_RECEIVE).count(),
            f"{returns}?{urlencode({'queue': 'parcel'})}",
        ),
        Queue("At risk", counts["at_risk"], f"{orders}?{urlencode({'sla': 'at_risk'})}"),
        Queue("Late", counts["late"], f"{orders}?{urlencode({'sla': 'late'})}"),
        Queue(
            "In transit", counts["in_transit"], f"{orders}?{urlencode({'status__exact': OrderStatus.IN_TRANSIT.value})}"
        ),
        Queue(
            "Lost",
            counts["lost"],
            f"{orders}?{urlencode({'status__exact': OrderStatus.LOST.value})}",
            bound=LOST_COUNT_BOUND,
        ),
    ]


def support_queues() -> list[Queue]:
    """Buyers' requests waiting for an answer (cancellations and returns), those past their answer time,
    and returned parcels on their way."""
    now = timezone.now()
    pending = CancellationRequest.objects.filter(status=CancellationStatus.PENDING)
    requested = ReturnRequest.objects.filter(status=ReturnStatus.REQUESTED)
    cancellations = reverse("admin:returns_cancellationrequest_changelist")
    returns = reverse("admin:returns_returnrequest_changelist")
    return [
        Queue(
            "Cancellation requests waiting",
            pending.count(),
            f"{cancellations}?{urlencode({'status__exact': CancellationStatus.PENDING.value})}",
        ),
        Queue("Return requests waiting", requested.count(), f"{returns}?{urlencode({'queue': 'answer'})}"),
        Queue(
            "Overdue answers",
            pending.filter(respond_by__lte=now).count() + requested.filter(respond_by__lte=now).count(),
            f"{returns}?{urlencode({'queue': 'overdue'})}",
        ),
        Queue(
            "Returns to receive",
            ReturnRequest.objects.filter(status__in=RETURNS_TO_RECEIVE).count(),
            f"{returns}?{urlencode({'queue': 'parcel'})}",
        ),
    ]


def finance_queues() -> list[Queue]:
    """Money that waits for Finance: orders Auto Checkout gave up on, returns whose refund is to be
    decided, and refunds owed by bank transfer that are still to be sent and recorded."""
    failed = AutoCheckout.objects.filter(
        gave_up_at__isnull=False, order__status=OrderStatus.AWAITING_CHECKOUT, order__seller_paid_at__isnull=True
    ).count()
    to_decide = (
        ReturnRequest.objects.filter(status=ReturnStatus.INSPECTED, type=ReturnType.RETURN_AND_REFUND)
        | ReturnRequest.objects.filter(
            status__in=[ReturnStatus.APPROVED, ReturnStatus.AUTO_APPROVED], type=ReturnType.REFUND_ONLY
        )
    ).count()
    owed = Refund.objects.filter(method=LedgerMethod.BANK_TRANSFER, status=RefundStatus.PENDING).count()
    orders = reverse("admin:orders_order_changelist")
    refunds = reverse("admin:payments_refund_changelist")
    returns = reverse("admin:returns_returnrequest_changelist")
    return [
        Queue(
            "Auto Checkout failed",
            failed,
            f"{orders}?{urlencode({'status__exact': OrderStatus.AWAITING_CHECKOUT.value})}",
        ),
        Queue("Refunds to decide", to_decide, f"{returns}?{urlencode({'queue': 'decision'})}"),
        Queue(
            "Bank transfers to record",
            owed,
            f"{refunds}?{urlencode({'method__exact': 'bank_transfer', 'status__exact': 'pending'})}",
        ),
    ]


def order_queues() -> list[Queue]:
    """The order queues staff work from, counted in one aggregate query.

    Only unshipped orders are read, so on PostgreSQL the count walks the
    ``(status, placed_at)`` index over open orders instead of the whole
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
