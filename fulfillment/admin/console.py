"""The warehouse console: the to-ship queue with its bulk actions, pick lists and packing slips.

Every write goes through ``fulfillment.services``; each order in a bulk action is its
own locked transaction, and a refusal becomes a message for that order.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from accounts.models import Seller
from core.actors import Actor
from core.display import order_address_lines
from core.errors import DomainError
from core.privacy import mask_name, mask_phone, masked_shipping_address
from fulfillment.admin.common import (
    BUYER_DETAILS_PERMISSION,
    CONSOLE_VIEW_PERMISSION,
    TRACKING_ERROR_CODES,
    WORK_PERMISSION,
)
from fulfillment.admin.needs_stock import STAGE_NEEDS_STOCK, remap_view, shortfall_rows
from fulfillment.models import Carrier, Handover, Shipment, ShipmentStatus
from fulfillment.selectors import (
    carrier_list,
    needs_stock_count,
    needs_stock_queryset,
    packing_slips,
    pick_list,
    to_ship_queue,
)
from fulfillment.services import (
    shipment_hand_over,
    shipment_label,
    shipment_pack,
    shipment_start_picking,
)
from fulfillment.sla import order_sla_clocks, order_sla_worst, sla_at_risk_q, sla_late_q
from orders.models import Order, OrderLine, OrderStatus

CONSOLE_PAGE_SIZE = 50
# Each order of a bulk action is its own locked transaction; past a few hundred the request
# would outlive the web server's timeout.
CONSOLE_BULK_LIMIT = 200

STAGE_TO_SHIP = "to_ship"
STAGE_COLLECTION = "collection"
STAGES = {
    STAGE_TO_SHIP: "To ship",
    STAGE_COLLECTION: "Awaiting collection",
    STAGE_NEEDS_STOCK: "Needs stock",
}


def clock_badge(order: Order, *, now) -> tuple[str, str] | None:
    """(css class, label) for the order's worst running SLA clock, or None when all are fine.

    Reads ``order.shipment`` (select it with the order)."""
    worst = order_sla_worst(order, now=now)
    return (worst.value.replace("_", "-"), worst.label) if worst is not None else None


class ConsoleFilterForm(forms.Form):
    stage = forms.ChoiceField(choices=list(STAGES.items()), required=False)
    seller = forms.CharField(required=False, max_length=64)
    sku = forms.CharField(required=False, max_length=64, label="SKU")
    carrier = forms.CharField(required=False, max_length=64)
    step = forms.ChoiceField(choices=[("", "Any step"), ("to_pick", "To pick"), ("packed", "Packed")], required=False)
    sla = forms.ChoiceField(
        choices=[("", "Any"), ("at_risk", "At risk"), ("late", "Late")], required=False, label="SLA"
    )

    def filters(self) -> dict[str, str]:
        data = self.cleaned_data if self.is_valid() else {}
        values = {name: (data.get(name) or "").strip() for name in self.fields}
        values["stage"] = values["stage"] or STAGE_TO_SHIP
        return values


def console_queryset(filters: dict[str, str], *, now):
    """The console's orders for ``filters``, most urgent first, with seller, shipment, carrier and
    lines loaded in a fixed number of queries whatever the page size."""
    if filters["stage"] == STAGE_NEEDS_STOCK:
        return needs_stock_queryset(seller_code=filters["seller"], sku_code=filters["sku"])
    if filters["stage"] == STAGE_COLLECTION:
        orders = Order.objects.filter(status=OrderStatus.SHIPPED).select_related("seller", "shipment__carrier")
        orders = orders.order_by("shipment__collect_by", "id")
        if filters["seller"]:
            orders = orders.filter(seller__code=filters["seller"])
        if filters["sku"]:
            orders = orders.filter(pk__in=OrderLine.objects.filter(sku_code=filters["sku"]).values("order_id"))
        if filters["carrier"]:
            orders = orders.filter(shipment__carrier__code=filters["carrier"])
    else:
        orders = to_ship_queue(seller_code=filters["seller"] or None, sku_code=filters["sku"] or None)
        if filters["step"] == "to_pick":
            orders = orders.filter(Q(status=OrderStatus.READY_TO_FULFILL) | Q(shipment__status=ShipmentStatus.PICKING))
        elif filters["step"] == "packed":
            orders = orders.filter(shipment__status=ShipmentStatus.PACKED)
    if filters["sla"] == "late":
        orders = orders.filter(sla_late_q(now))
    elif filters["sla"] == "at_risk":
        orders = orders.filter(sla_at_risk_q(now))
    return orders.prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("sku_code", "id")))


def stage_counts() -> dict[str, int]:
    """How many orders each console tab holds, in two queries."""
    counts = Order.objects.filter(
        status__in=[OrderStatus.READY_TO_FULFILL, OrderStatus.IN_FULFILLMENT, OrderStatus.SHIPPED]
    ).aggregate(
        **{STAGE_TO_SHIP: Count("pk", filter=Q(status__in=[OrderStatus.READY_TO_FULFILL, OrderStatus.IN_FULFILLMENT]))},
        **{STAGE_COLLECTION: Count("pk", filter=Q(status=OrderStatus.SHIPPED))},
    )
    return {**counts, STAGE_NEEDS_STOCK: needs_stock_count()}


@dataclass(frozen=True)
class ConsoleAction:
    name: str
    label: str
    stages: tuple[str, ...]
    writes: bool = True


CONSOLE_ACTIONS = {
    a.name: a
    for a in (
        ConsoleAction("start_picking", "Start picking (and print the pick list)", (STAGE_TO_SHIP,)),
        ConsoleAction("pick_list", "Print pick list", (STAGE_TO_SHIP,), writes=False),
        ConsoleAction("pack", "Mark packed", (STAGE_TO_SHIP,)),
        ConsoleAction("label", "Label with carrier and tracking…", (STAGE_TO_SHIP,)),
        ConsoleAction("packing_slips", "Print packing slips", (STAGE_TO_SHIP, STAGE_COLLECTION), writes=False),
        ConsoleAction(
            "marketplace_labels", "Print TikTok shipping labels (one PDF)", (STAGE_COLLECTION,), writes=False
        ),
        ConsoleAction("marketplace_slips", "Print TikTok packing slips (one PDF)", (STAGE_COLLECTION,), writes=False),
        ConsoleAction("hand_over", "Hand over to the carrier", (STAGE_COLLECTION,)),
    )
}


def _buyer_for_slip(order: Order, *, full: bool) -> dict:
    """Full name, phone and address for staff who print labels; masked (R12) for everyone else."""
    if full:
        return {
            "name": order.buyer_name,
            "phone": order.buyer_phone,
            "address": order_address_lines(order),
            "masked": False,
        }
    area = [v for v in masked_shipping_address(order).values() if v]
    return {
        "name": mask_name(order.buyer_name),
        "phone": mask_phone(order.buyer_phone),
        "address": area,
        "masked": True,
    }


class LabelForm(forms.Form):
    """Carrier and handover for the whole selection, a tracking number per order."""

    carrier = forms.ModelChoiceField(queryset=Carrier.objects.none(), to_field_name="code", empty_label=None)
    handover_method = forms.ChoiceField(choices=Handover.choices, label="handover")

    def __init__(self, *args, orders, **kwargs):
        super().__init__(*args, **kwargs)
        self.orders = orders
        self.fields["carrier"].queryset = carrier_list()
        for order in orders:
            self.fields[self.tracking_field(order)] = forms.CharField(
                max_length=64, label=f"Tracking number for order {order.pk}", required=False
            )

    def clean(self):
        """A tracking number per order, except with a marketplace's logistics, which gives it when it ships."""
        cleaned = super().clean()
        carrier = cleaned.get("carrier")
        if carrier is not None and not carrier.assigns_tracking:
            for order in self.orders:
                if not cleaned.get(self.tracking_field(order)):
                    self.add_error(self.tracking_field(order), "This field is required.")
        return cleaned

    @staticmethod
    def tracking_field(order: Order) -> str:
        return f"tracking_{order.pk}"

    def rows(self):
        return [(order, self[self.tracking_field(order)]) for order in self.orders]


def _selected_ids(values) -> list[int]:
    return sorted({int(v) for v in values if str(v).isdigit()})


class WarehouseConsole:
    """The console's pages; mounted by ``ShipmentAdmin.get_urls`` under ``/admin/fulfillment/shipment/``."""

    def __init__(self, model_admin: admin.ModelAdmin):
        self.model_admin = model_admin
        self.admin_site = model_admin.admin_site

    def _context(self, request, **extra):
        request.current_app = self.admin_site.name
        return {**self.admin_site.each_context(request), "opts": Shipment._meta, "subtitle": None, **extra}

    def _message(self, request, text, level=messages.SUCCESS):
        self.model_admin.message_user(request, text, level)

    def _run_each(self, request, orders, service, done: str) -> list[Order]:
        """Call ``service`` per order; a refusal is that order's error message and the rest go on."""
        actor = Actor.for_user(request.user)
        succeeded = []
        for order in orders:
            try:
                service(order_id=order.pk, actor=actor)
            except DomainError as exc:
                self._message(request, f"Order {order.pk}: {exc.detail}", messages.ERROR)
            else:
                succeeded.append(order)
                self._message(request, f"Order {order.pk}: {done}.")
        return succeeded

    # --- the queue -------------------------------------------------------------------------

    def queue_view(self, request):
        if not request.user.has_perm(CONSOLE_VIEW_PERMISSION):
            raise PermissionDenied
        if request.method == "POST":
            return self.action_view(request)
        form = ConsoleFilterForm(request.GET)
        filters = form.filters()
        now = timezone.now()
        page = Paginator(console_queryset(filters, now=now), CONSOLE_PAGE_SIZE).get_page(request.GET.get("page"))
        rows = []
        needs_stock = filters["stage"] == STAGE_NEEDS_STOCK
        for order in page.object_list:
            shipment = order.shipment if _has_shipment(order) else None
            clocks = order_sla_clocks(order, now=now)
            rows.append(
                {
                    "order": order,
                    "shipment": shipment,
                    "lines": list(order.lines.all()),
                    "badge": clock_badge(order, now=now),
                    "clock": clocks["collect_by"] if filters["stage"] == STAGE_COLLECTION else clocks["ship_by"],
                    "shortfalls": shortfall_rows(order, back=request.get_full_path()) if needs_stock else [],
                }
            )
        base = {k: v for k, v in filters.items() if v and k != "stage"}

        def link(**changes):
            params = {**base, "stage": filters["stage"], **changes}
            return "?" + urlencode({k: v for k, v in params.items() if v})

        counts = stage_counts()
        tabs = [
            {
                "label": label,
                "count": counts[stage],
                "url": "?" + urlencode({"stage": stage}),
                "active": stage == filters["stage"],
            }
            for stage, label in STAGES.items()
        ]
        can_work = request.user.has_perm(WORK_PERMISSION)
        actions = [a for a in CONSOLE_ACTIONS.values() if filters["stage"] in a.stages and (can_work or not a.writes)]
        context = self._context(
            request,
            title="Warehouse console",
            filters=filters,
            form=form,
            tabs=tabs,
            rows=rows,
            page=page,
            previous_url=link(page=page.previous_page_number()) if page.has_previous() else "",
            next_url=link(page=page.next_page_number()) if page.has_next() else "",
            actions=actions,
            sellers=Seller.objects.order_by("code"),
            carriers=Carrier.objects.order_by("name"),
            stage_collection=filters["stage"] == STAGE_COLLECTION,
            stage_needs_stock=needs_stock,
            can_work=can_work,
            clock_label="Collect by" if filters["stage"] == STAGE_COLLECTION else "Ship by",
        )
        return TemplateResponse(request, "admin/fulfillment/console/queue.html", context)

    def action_view(self, request):
        """A bulk action posted from the queue: run it per order, then back to the same view of the queue."""
        action = CONSOLE_ACTIONS.get(request.POST.get("action", ""))
        back = request.get_full_path()
        ids = _selected_ids(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME))
        if action is None:
            self._message(request, "Choose an action.", messages.WARNING)
            return HttpResponseRedirect(back)
        if not ids:
            self._message(request, "Select the orders to act on first.", messages.WARNING)
            return HttpResponseRedirect(back)
        if len(ids) > CONSOLE_BULK_LIMIT:
            self._message(request, f"Select at most {CONSOLE_BULK_LIMIT} orders at a time.", messages.WARNING)
            return HttpResponseRedirect(back)
        if action.writes and not request.user.has_perm(WORK_PERMISSION):
            raise PermissionDenied
        orders = list(Order.objects.filter(pk__in=ids).order_by("ship_by", "id"))
        if action.name == "start_picking":
            picked = self._run_each(request, orders, shipment_start_picking, "picking started")
            if not picked:
                return HttpResponseRedirect(back)
            return self._pick_list_page(request, [o.pk for o in picked], back_url=back)
        if action.name == "pick_list":
            return self._pick_list_page(request, ids, back_url=back)
        if action.name == "pack":
            self._run_each(request, orders, shipment_pack, "packed")
            return HttpResponseRedirect(back)
        if action.name == "hand_over":
            self._run_each(request, orders, shipment_hand_over, "handed over; in transit")
            return HttpResponseRedirect(back)
        if action.name == "packing_slips":
            return self._packing_slips_page(request, ids, back_url=back)
        if action.name in ("marketplace_labels", "marketplace_slips"):
            # The marketplace's own documents (TikTok's PDFs), merged by the app that fetches them.
            kind = "SHIPPING_LABEL" if action.name == "marketplace_labels" else "PACKING_SLIP"
            print_url = reverse("admin:tiktok_documents_print")
            query = urlencode({"ids": ",".join(map(str, ids)), "type": kind, "next": back})
            return HttpResponseRedirect(f"{print_url}?{query}")
        label_url = reverse("admin:fulfillment_console_label")
        return HttpResponseRedirect(f"{label_url}?{urlencode({'ids': ','.join(map(str, ids)), 'next': back})}")

    # --- printable pages -----------------------------------------------------------------

    def _pick_list_page(self, request, order_ids, *, back_url):
        rows = pick_list(order_ids=order_ids)
        context = self._context(
            request,
            title="Pick list",
            rows=rows,
            order_count=len({o.pk for row in rows for o, _ in row.orders}),
            unit_count=sum(row.quantity for row in rows),
            printed_at=timezone.now(),
            back_url=back_url,
        )
        return TemplateResponse(request, "admin/fulfillment/console/pick_list.html", context)

    def _packing_slips_page(self, request, order_ids, *, back_url):
        full = request.user.has_perm(BUYER_DETAILS_PERMISSION)
        slips = [
            {
                "order": order,
                "buyer": _buyer_for_slip(order, full=full),
                "lines": list(order.lines.all()),
                "shipment": order.shipment if _has_shipment(order) else None,
            }
            for order in packing_slips(order_ids=order_ids)
        ]
        context = self._context(
            request, title="Packing slips", slips=slips, printed_at=timezone.now(), back_url=back_url
        )
        return TemplateResponse(request, "admin/fulfillment/console/packing_slips.html", context)

    # --- stock exceptions ------------------------------------------------------------------

    def remap_view(self, request):
        return remap_view(self, request)

    # --- labelling -----------------------------------------------------------------------

    def label_view(self, request):
        """Label the selected packed orders: one carrier and handover, a tracking number per order.

        Orders labelled get a success message; the ones refused stay on the form with their error,
        so staff fix a mistyped number without retyping the rest."""
        if not request.user.has_perm(WORK_PERMISSION):
            raise PermissionDenied
        source = request.POST if request.method == "POST" else request.GET
        ids = _selected_ids(source.get("ids", "").split(","))[:CONSOLE_BULK_LIMIT]
        back = source.get("next", "")
        if not back.startswith(reverse("admin:fulfillment_console")):
            back = reverse("admin:fulfillment_console")
        orders = list(
            Order.objects.filter(pk__in=ids).select_related("seller", "shipment__carrier").order_by("ship_by", "id")
        )
        if not orders:
            self._message(request, "Select the orders to label first.", messages.WARNING)
            return HttpResponseRedirect(back)
        form = LabelForm(request.POST if request.method == "POST" else None, orders=orders)
        if form.is_bound and form.is_valid():
            actor = Actor.for_user(request.user)
            carrier = form.cleaned_data["carrier"]
            method = form.cleaned_data["handover_method"]
            remaining = []
            for order in orders:
                number = form.cleaned_data[form.tracking_field(order)]
                try:
                    shipment = shipment_label(
                        order_id=order.pk, carrier=carrier, tracking_number=number, handover_method=method, actor=actor
                    )
                except DomainError as exc:
                    if exc.code in TRACKING_ERROR_CODES:
                        form.add_error(form.tracking_field(order), exc.detail)
                        remaining.append(order)
                    elif exc.code == "handover_not_offered":
                        form.add_error("handover_method", exc.detail)
                        remaining.append(order)
                    else:
                        self._message(request, f"Order {order.pk}: {exc.detail}", messages.ERROR)
                else:
                    shipment.refresh_from_db()
                    if shipment.label_requested:
                        self._message(request, f"Order {order.pk}: {shipment.marketplace_note}", messages.INFO)
                    elif shipment.labelled_at is None:
                        self._message(request, f"Order {order.pk}: {shipment.marketplace_note}", messages.ERROR)
                    else:
                        self._message(
                            request,
                            f"Order {order.pk}: labelled {shipment.carrier.name} {shipment.tracking_number}; now "
                            f"shipped (awaiting collection).",
                        )
            if not remaining:
                return HttpResponseRedirect(back)
            form.orders = remaining
        context = self._context(
            request,
            title="Label parcels",
            form=form,
            orders=form.orders,
            ids=",".join(str(o.pk) for o in form.orders),
            back_url=back,
            not_packed=[
                o for o in form.orders if not (_has_shipment(o) and o.shipment.status == ShipmentStatus.PACKED)
            ],
            carriers=carrier_list(),
        )
        return TemplateResponse(request, "admin/fulfillment/console/label.html", context)


def _has_shipment(order: Order) -> bool:
    # A missing reverse one-to-one raises an AttributeError subclass, so getattr's default applies.
    return getattr(order, "shipment", None) is not None
