"""Stock in the console: SKUs, stock levels, reservations, and the CSV import/export.

Everything here is read-only. Stock levels change through the CSV import
(``stock_import_csv``, which refuses an on-hand count below what is reserved)
and through the order services; reservations only through the order services.
Editing ``on_hand`` in a form would bypass both the lock and that check.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import AdminSplitDateTime
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, F, Prefetch, Q
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from backoffice.actors import Actor
from backoffice.errors import DomainError
from backoffice.models import Seller
from backoffice.privacy import mask_name, mask_phone, masked_shipping_address
from fulfillment.models import SKU, CARRIER_EVENT_TYPES, Carrier, Handover, Reservation, Shipment, ShipmentEvent, Stock
from fulfillment.models import ShipmentStatus as SS
from fulfillment.selectors import (
    SlaState,
    carrier_list,
    order_sla_clocks,
    packing_slips,
    pick_list,
    sla_at_risk_q,
    sla_late_q,
    to_ship_queue,
)
from fulfillment.services import (
    STOCK_CSV_COLUMNS,
    StockImportError,
    carrier_create,
    carrier_update,
    shipment_hand_over,
    shipment_label,
    shipment_pack,
    shipment_record_carrier_event,
    shipment_start_picking,
    shipment_update_tracking,
    stock_export_csv,
    stock_import_csv,
)
from orders.models import Order, OrderLine
from orders.models import OrderStatus as OS

# An upload above this is not a stock list someone edited by hand; refuse it before reading it into memory.
MAX_IMPORT_BYTES = 5 * 1024 * 1024
IMPORT_PERMISSION = "fulfillment.change_stock"


class ReadOnlyAdminMixin:
    """Shown to whoever may view it; written only by services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _money(minor_units: int) -> str:
    return f"{minor_units / 100:.2f}"


# --- CSV import -------------------------------------------------------------------------


class StockImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
        help_text=f"Columns: {','.join(STOCK_CSV_COLUMNS)}. wholesale_cost as an amount like 12.50; "
        "on_hand replaces the current count. UTF-8; nothing is written if any row is bad.",
    )

    def clean_file(self) -> str:
        """Return the file's text, or refuse a file that is too big or not UTF-8."""
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB.")
        try:
            # utf-8-sig drops the byte-order mark spreadsheet programs write.
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError("The file is not UTF-8 text; save it as “CSV UTF-8”.") from None


def stock_import_view(model_admin: admin.ModelAdmin, request):
    """Upload a stock CSV and run ``stock_import_csv``: counts on success, every bad row otherwise."""
    if not request.user.has_perm(IMPORT_PERMISSION):
        raise PermissionDenied
    errors: list[str] = []
    form = StockImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = stock_import_csv(text=form.cleaned_data["file"], actor=Actor.for_user(request.user))
        except StockImportError as exc:
            errors = exc.errors
        else:
            model_admin.message_user(
                request,
                f"Stock imported: {result.created} SKU(s) created, {result.updated} updated, {result.unchanged} unchanged.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:fulfillment_stock_changelist"))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Import stock CSV",
        "subtitle": None,
        "opts": model_admin.opts,
        "form": form,
        "import_errors": errors,
        "columns": STOCK_CSV_COLUMNS,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/fulfillment/stock/import_csv.html", context)


def _csv_response(text: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="stock-{timezone.localtime():%Y%m%d-%H%M}.csv"'
    return response


# --- SKUs -------------------------------------------------------------------------------


class StockInline(ReadOnlyAdminMixin, admin.StackedInline):
    model = Stock
    can_delete = False
    fields = ("on_hand", "reserved", "available", "updated_at")
    readonly_fields = fields

    @admin.display(description="available")
    def available(self, stock: Stock):
        return stock.available


@admin.register(SKU)
class SKUAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("code", "name", "seller", "wholesale_cost_display", "on_hand", "reserved", "available")
    list_filter = ("seller",)
    search_fields = ("code", "name", "seller__code")
    search_help_text = "SKU code, product name or seller code."
    list_select_related = ("seller", "stock")
    fields = ("seller", "code", "name", "wholesale_cost_display", "created_at", "updated_at")
    readonly_fields = fields
    inlines = (StockInline,)
    actions = ("export_selected_csv",)
    change_list_template = "admin/fulfillment/sku/change_list.html"

    @admin.display(description="wholesale cost", ordering="wholesale_cost")
    def wholesale_cost_display(self, sku: SKU):
        return _money(sku.wholesale_cost)

    @admin.display(description="on hand", ordering="stock__on_hand")
    def on_hand(self, sku: SKU):
        stock = getattr(sku, "stock", None)
        return stock.on_hand if stock else None

    @admin.display(description="reserved", ordering="stock__reserved")
    def reserved(self, sku: SKU):
        stock = getattr(sku, "stock", None)
        return stock.reserved if stock else None

    @admin.display(description="available", ordering=F("stock__on_hand") - F("stock__reserved"))
    def available(self, sku: SKU):
        stock = getattr(sku, "stock", None)
        if stock is None:
            return format_html('<strong style="color:#b3261e">{}</strong>', "no stock row")
        return stock.available

    @admin.action(description="Export selected SKUs as stock CSV", permissions=["view"])
    def export_selected_csv(self, request, queryset):
        return _csv_response(stock_export_csv(queryset=queryset))

    def get_urls(self):
        return [
            path("export-csv/", self.admin_site.admin_view(self.export_view), name="fulfillment_sku_export_csv"),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """Export every SKU the list shows with its current filters and search, in the import format."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("Unknown filter in the export link.")
        return _csv_response(stock_export_csv(queryset=changelist.get_queryset(request)))

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import_stock": request.user.has_perm(IMPORT_PERMISSION)}
        return super().changelist_view(request, extra_context)


# --- stock --------------------------------------------------------------------------------


@admin.register(Stock)
class StockAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("sku", "sku_name", "on_hand", "reserved", "available", "updated_at")
    list_filter = ("sku__seller",)
    search_fields = ("sku__code", "sku__name", "sku__seller__code")
    search_help_text = "SKU code, product name or seller code."
    list_select_related = ("sku__seller",)
    fields = ("sku", "on_hand", "reserved", "available", "updated_at")
    readonly_fields = fields
    change_list_template = "admin/fulfillment/stock/change_list.html"

    @admin.display(description="product", ordering="sku__name")
    def sku_name(self, stock: Stock):
        return stock.sku.name

    @admin.display(description="available", ordering=F("on_hand") - F("reserved"))
    def available(self, stock: Stock):
        return stock.available

    def get_urls(self):
        return [
            path("import-csv/", self.admin_site.admin_view(self.import_view), name="fulfillment_stock_import_csv"),
            *super().get_urls(),
        ]

    def import_view(self, request):
        return stock_import_view(self, request)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import_stock": request.user.has_perm(IMPORT_PERMISSION)}
        return super().changelist_view(request, extra_context)


# --- reservations -----------------------------------------------------------------------


class ReservationStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("active", "Active"), ("released", "Released"), ("consumed", "Shipped"))

    def queryset(self, request, queryset):
        value = self.value()
        if value == "active":
            return queryset.filter(released_at=None, consumed_at=None)
        if value == "released":
            return queryset.exclude(released_at=None)
        if value == "consumed":
            return queryset.exclude(consumed_at=None)
        return queryset


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "sku", "order_link", "quantity", "line_quantity", "state", "created_at")
    list_filter = (ReservationStateFilter, "sku__seller")
    search_fields = ("sku__code", "line__order__external_id")
    search_help_text = "SKU code or the order's external id."
    list_select_related = ("sku__seller", "line__order")
    fields = ("sku", "order_link", "line_quantity", "quantity", "state", "created_at", "released_at", "consumed_at")
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="order", ordering="line__order")
    def order_link(self, reservation: Reservation):
        order = reservation.line.order
        return format_html('<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[order.pk]), order)

    @admin.display(description="ordered")
    def line_quantity(self, reservation: Reservation):
        return reservation.line.quantity

    @admin.display(description="state")
    def state(self, reservation: Reservation):
        if reservation.released_at:
            return "released"
        if reservation.consumed_at:
            return "shipped"
        return "active"


# =========================================================================================
# The warehouse console: the to-ship queue with its bulk actions, pick lists, packing slips,
# carriers and shipments. Every write goes through ``fulfillment.services``; each order in a
# bulk action is its own locked transaction, and a refusal becomes a message for that order.
# =========================================================================================

CONSOLE_VIEW_PERMISSION = "fulfillment.view_shipment"
WORK_PERMISSION = "fulfillment.work_shipment"
CARRIER_EVENT_PERMISSION = "fulfillment.record_carrier_event"
BUYER_DETAILS_PERMISSION = "orders.view_buyer_details"
CONSOLE_PAGE_SIZE = 50
# Each order of a bulk action is its own locked transaction; past a few hundred the request
# would outlive the web server's timeout.
CONSOLE_BULK_LIMIT = 200

STAGE_TO_SHIP = "to_ship"
STAGE_COLLECTION = "collection"
STAGES = {
    STAGE_TO_SHIP: "To ship",
    STAGE_COLLECTION: "Awaiting collection",
}

# State of the worst running clock, for the row badge: late beats at risk.
_BADGES = {
    SlaState.LATE: ("late", "Late"),
    SlaState.AT_RISK: ("at-risk", "At risk"),
}


def clock_badge(order: Order, *, now) -> tuple[str, str] | None:
    """(css class, label) for the order's worst running SLA clock, or None when all are fine.

    Reads ``order.shipment`` (select it with the order)."""
    states = {clock.state for clock in order_sla_clocks(order, now=now).values()}
    for state in (SlaState.LATE, SlaState.AT_RISK):
        if state in states:
            return _BADGES[state]
    return None


class ConsoleFilterForm(forms.Form):
    stage = forms.ChoiceField(choices=list(STAGES.items()), required=False)
    seller = forms.CharField(required=False, max_length=64)
    sku = forms.CharField(required=False, max_length=64, label="SKU")
    carrier = forms.CharField(required=False, max_length=64)
    step = forms.ChoiceField(
        choices=[("", "Any step"), ("to_pick", "To pick"), ("packed", "Packed")], required=False
    )
    sla = forms.ChoiceField(choices=[("", "Any"), ("at_risk", "At risk"), ("late", "Late")], required=False, label="SLA")

    def filters(self) -> dict[str, str]:
        data = self.cleaned_data if self.is_valid() else {}
        values = {name: (data.get(name) or "").strip() for name in self.fields}
        values["stage"] = values["stage"] or STAGE_TO_SHIP
        return values


def console_queryset(filters: dict[str, str], *, now):
    """The console's orders for ``filters``, most urgent first, with seller, shipment, carrier and
    lines loaded in a fixed number of queries whatever the page size."""
    if filters["stage"] == STAGE_COLLECTION:
        orders = Order.objects.filter(status=OS.SHIPPED).select_related("seller", "shipment__carrier")
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
            orders = orders.filter(Q(status=OS.READY_TO_FULFILL) | Q(shipment__status=SS.PICKING))
        elif filters["step"] == "packed":
            orders = orders.filter(shipment__status=SS.PACKED)
    if filters["sla"] == "late":
        orders = orders.filter(sla_late_q(now))
    elif filters["sla"] == "at_risk":
        orders = orders.filter(sla_at_risk_q(now))
    return orders.prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("sku_code", "id")))


def stage_counts() -> dict[str, int]:
    """How many orders each console tab holds, in one query."""
    return Order.objects.filter(status__in=[OS.READY_TO_FULFILL, OS.IN_FULFILLMENT, OS.SHIPPED]).aggregate(
        **{STAGE_TO_SHIP: Count("pk", filter=Q(status__in=[OS.READY_TO_FULFILL, OS.IN_FULFILLMENT]))},
        **{STAGE_COLLECTION: Count("pk", filter=Q(status=OS.SHIPPED))},
    )


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
        ConsoleAction("hand_over", "Hand over to the carrier", (STAGE_COLLECTION,)),
    )
}


def _buyer_for_slip(order: Order, *, full: bool) -> dict:
    """Full name, phone and address for staff who print labels; masked (R12) for everyone else."""
    if full:
        city_line = " ".join(p for p in (order.ship_postal_code, order.ship_city) if p)
        lines = [order.ship_line1, order.ship_line2, city_line, order.ship_region, order.ship_country]
        return {"name": order.buyer_name, "phone": order.buyer_phone, "address": [p for p in lines if p], "masked": False}
    area = [v for v in masked_shipping_address(order).values() if v]
    return {"name": mask_name(order.buyer_name), "phone": mask_phone(order.buyer_phone), "address": area, "masked": True}


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
                max_length=64, label=f"Tracking number for order {order.pk}", required=True
            )

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
                }
            )
        base = {k: v for k, v in filters.items() if v and k != "stage"}

        def link(**changes):
            params = {**base, "stage": filters["stage"], **changes}
            return "?" + urlencode({k: v for k, v in params.items() if v})

        counts = stage_counts()
        tabs = [
            {"label": label, "count": counts[stage], "url": "?" + urlencode({"stage": stage}), "active": stage == filters["stage"]}
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
            {"order": order, "buyer": _buyer_for_slip(order, full=full), "lines": list(order.lines.all()),
             "shipment": order.shipment if _has_shipment(order) else None}
            for order in packing_slips(order_ids=order_ids)
        ]
        context = self._context(request, title="Packing slips", slips=slips, printed_at=timezone.now(), back_url=back_url)
        return TemplateResponse(request, "admin/fulfillment/console/packing_slips.html", context)

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
        orders = list(Order.objects.filter(pk__in=ids).select_related("seller", "shipment__carrier").order_by("ship_by", "id"))
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
                    if exc.code in _TRACKING_CODES:
                        form.add_error(form.tracking_field(order), exc.detail)
                        remaining.append(order)
                    elif exc.code == "handover_not_offered":
                        form.add_error("handover_method", exc.detail)
                        remaining.append(order)
                    else:
                        self._message(request, f"Order {order.pk}: {exc.detail}", messages.ERROR)
                else:
                    self._message(
                        request,
                        f"Order {order.pk}: labelled {shipment.carrier.name} {shipment.tracking_number}; now shipped "
                        f"(awaiting collection).",
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
            not_packed=[o for o in form.orders if not (_has_shipment(o) and o.shipment.status == SS.PACKED)],
            carriers=carrier_list(),
        )
        return TemplateResponse(request, "admin/fulfillment/console/label.html", context)


_TRACKING_CODES = {"tracking_number_invalid", "tracking_number_in_use", "tracking_number_required"}


def _has_shipment(order: Order) -> bool:
    try:
        order.shipment
    except Shipment.DoesNotExist:
        return False
    return True


# --- carriers -----------------------------------------------------------------------------


class CarrierForm(forms.ModelForm):
    class Meta:
        model = Carrier
        fields = ("code", "name", "tracking_pattern", "tracking_url", "handover", "active")
        help_texts = {
            "tracking_pattern": r"A regular expression every tracking number must match, e.g. ^1Z[0-9A-Z]{16}$.",
            "tracking_url": "Optional. {tracking_number} is replaced by the parcel's number, e.g. "
            "https://carrier.example/track/{tracking_number}.",
            "active": "Only active carriers can label parcels. Retire a carrier by unticking this; "
            "its past parcels keep it.",
        }


@admin.register(Carrier)
class CarrierAdmin(admin.ModelAdmin):
    """Staff keep the carrier list (R10); saving calls ``carrier_create`` / ``carrier_update``."""

    form = CarrierForm
    list_display = ("name", "code", "tracking_pattern", "handover", "active")
    list_filter = ("active", "handover")
    search_fields = ("code", "name")
    ordering = ("name",)

    def has_delete_permission(self, request, obj=None):
        # Parcels refer to carriers (PROTECT); retire one with "active" instead.
        return False

    def get_readonly_fields(self, request, obj=None):
        # The code is fixed once created: partners and past parcels refer to it.
        return ("code", "created_at", "updated_at") if obj is not None else ()

    def save_model(self, request, obj, form, change):
        actor = Actor.for_user(request.user)
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in ("name", "tracking_pattern", "tracking_url", "handover", "active")}
            saved = carrier_update(carrier_id=obj.pk, actor=actor, **changes)
        else:
            saved = carrier_create(
                code=data["code"], name=data["name"], tracking_pattern=data["tracking_pattern"],
                handover=data["handover"], tracking_url=data["tracking_url"], active=data["active"], actor=actor,
            )
        obj.pk = saved.pk
        obj.created_at, obj.updated_at = saved.created_at, saved.updated_at

    def save_related(self, request, form, formsets, change):
        """Nothing related to save; the service already wrote the carrier."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The form validates what the service validates; a refusal left (a lost race on the code)
        # comes back as a message on the same form rather than an error page.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


# --- shipments: read-only, with carrier events and tracking corrections -------------------


class ShipmentEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ShipmentEvent
    extra = 0
    can_delete = False
    fields = ("at", "type", "from_status", "to_status", "note", "data", "actor", "created_at")
    readonly_fields = fields
    ordering = ("at", "id")
    verbose_name_plural = "events"


def _aware(value):
    return timezone.make_aware(value) if value is not None and timezone.is_naive(value) else value


class CarrierEventForm(forms.Form):
    type = forms.ChoiceField(choices=[(t, t.replace("_", " ")) for t in CARRIER_EVENT_TYPES])
    at = forms.SplitDateTimeField(
        widget=AdminSplitDateTime,
        help_text="When the carrier reports it happened. Events must come in order and not be in the future.",
    )
    note = forms.CharField(max_length=500, required=False, widget=forms.TextInput(attrs={"size": 60}))


class TrackingForm(forms.Form):
    carrier = forms.ModelChoiceField(queryset=Carrier.objects.none(), to_field_name="code", empty_label=None)
    tracking_number = forms.CharField(max_length=64)
    reason = forms.CharField(
        max_length=300, required=False, widget=forms.TextInput(attrs={"size": 60}),
        help_text="Kept in the order history, e.g. “label reprinted”.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["carrier"].queryset = carrier_list()


@admin.register(Shipment)
class ShipmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "order_link", "status", "carrier", "tracking_number", "labelled_at", "collect_by", "failed_attempts")
    list_filter = ("status", "carrier", "handover_method")
    search_fields = ("tracking_number", "order__external_id")
    search_help_text = "Tracking number or the order's external id."
    list_select_related = ("order", "carrier")
    show_full_result_count = False
    fields = (
        "order_link", "status", "carrier", "tracking_link_display", "handover_method",
        "picking_started_at", "packed_at", "labelled_at", "collect_by", "picked_up_at",
        "failed_attempts", "last_event_at", "lost_deadline", "delivered_at", "lost_at",
    )
    readonly_fields = fields
    inlines = (ShipmentEventInline,)
    change_form_template = "admin/fulfillment/shipment/change_form.html"

    @admin.display(description="order", ordering="order")
    def order_link(self, shipment: Shipment):
        return format_html(
            '<a href="{}">Order {}</a>', reverse("admin:orders_order_change", args=[shipment.order_id]), shipment.order_id
        )

    @admin.display(description="tracking number")
    def tracking_link_display(self, shipment: Shipment):
        if shipment.tracking_link:
            return format_html('<a href="{}" rel="noopener" target="_blank">{}</a>', shipment.tracking_link, shipment.tracking_number)
        return shipment.tracking_number or "—"

    def get_urls(self):
        console = WarehouseConsole(self)
        view = self.admin_site.admin_view
        return [
            path("console/", view(console.queue_view), name="fulfillment_console"),
            path("console/label/", view(console.label_view), name="fulfillment_console_label"),
            path("<path:object_id>/carrier-event/", view(self.carrier_event_view), name="fulfillment_shipment_carrier_event"),
            path("<path:object_id>/tracking/", view(self.tracking_view), name="fulfillment_shipment_tracking"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "console_url": reverse("admin:fulfillment_console")}
        return super().changelist_view(request, extra_context)

    def _tracking_editable(self, shipment: Shipment) -> bool:
        return shipment.labelled_at is not None and timezone.now() <= shipment.labelled_at + settings.TRACKING_EDIT_WINDOW

    def change_view(self, request, object_id, form_url="", extra_context=None):
        shipment = self.get_object(request, unquote(object_id))
        buttons = []
        if shipment is not None and shipment.labelled_at is not None:
            if request.user.has_perm(CARRIER_EVENT_PERMISSION) and shipment.status in (
                SS.LABELLED, SS.IN_TRANSIT, SS.DELIVERY_FAILED
            ):
                buttons.append(("Enter carrier event", reverse("admin:fulfillment_shipment_carrier_event", args=[shipment.pk])))
            if request.user.has_perm(WORK_PERMISSION) and self._tracking_editable(shipment):
                buttons.append(("Correct tracking", reverse("admin:fulfillment_shipment_tracking", args=[shipment.pk])))
        extra_context = {**(extra_context or {}), "shipment_actions": buttons}
        return super().change_view(request, object_id, form_url, extra_context)

    def _shipment_or_404(self, request, object_id) -> Shipment:
        shipment = self.get_object(request, unquote(object_id))
        if shipment is None:
            raise Http404("No such shipment.")
        return shipment

    def _form_page(self, request, shipment, form, *, title, intro, submit):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "opts": self.opts,
            "original": shipment,
            "shipment": shipment,
            "form": form,
            "intro": intro,
            "submit_label": submit,
            "media": self.media + form.media,
            "back_url": reverse("admin:fulfillment_shipment_change", args=[shipment.pk]),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/fulfillment/shipment/action_form.html", context)

    def carrier_event_view(self, request, object_id):
        """Enter a carrier event by hand (picked up, in transit, failed attempt, delivered)."""
        if not request.user.has_perm(CARRIER_EVENT_PERMISSION):
            raise PermissionDenied
        shipment = self._shipment_or_404(request, object_id)
        form = CarrierEventForm(request.POST or None, initial={"at": timezone.localtime().replace(second=0, microsecond=0)})
        if form.is_bound and form.is_valid():
            try:
                shipment_record_carrier_event(
                    order_id=shipment.order_id, type=form.cleaned_data["type"], at=_aware(form.cleaned_data["at"]),
                    note=form.cleaned_data["note"], actor=Actor.for_user(request.user),
                )
            except DomainError as exc:
                form.add_error(None, exc.detail)
            else:
                shipment.refresh_from_db()
                self.message_user(
                    request, f"Carrier event recorded; the parcel is {shipment.get_status_display().lower()}.", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:fulfillment_shipment_change", args=[shipment.pk]))
        return self._form_page(
            request, shipment, form, title=f"Carrier event for order {shipment.order_id}",
            intro=f"Parcel {shipment} is {shipment.get_status_display().lower()}.", submit="Record the event",
        )

    def tracking_view(self, request, object_id):
        """Correct the carrier or tracking number within the edit window after labelling (audited)."""
        if not request.user.has_perm(WORK_PERMISSION):
            raise PermissionDenied
        shipment = self._shipment_or_404(request, object_id)
        initial = {"carrier": shipment.carrier.code if shipment.carrier else None, "tracking_number": shipment.tracking_number}
        form = TrackingForm(request.POST or None, initial=initial)
        if form.is_bound and form.is_valid():
            try:
                shipment_update_tracking(
                    order_id=shipment.order_id, carrier=form.cleaned_data["carrier"],
                    tracking_number=form.cleaned_data["tracking_number"], reason=form.cleaned_data["reason"],
                    actor=Actor.for_user(request.user),
                )
            except DomainError as exc:
                field = "tracking_number" if exc.code in _TRACKING_CODES else None
                form.add_error(field, exc.detail)
            else:
                self.message_user(request, f"Tracking of order {shipment.order_id} updated.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:fulfillment_shipment_change", args=[shipment.pk]))
        closes = shipment.labelled_at + settings.TRACKING_EDIT_WINDOW if shipment.labelled_at else None
        intro = (
            f"Corrections are allowed until {timezone.localtime(closes):%Y-%m-%d %H:%M} and are kept in the order history."
            if closes else "This parcel has no label yet."
        )
        return self._form_page(request, shipment, form, title=f"Correct tracking of order {shipment.order_id}", intro=intro, submit="Save tracking")
