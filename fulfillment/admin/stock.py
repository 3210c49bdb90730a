"""Stock in the console: SKUs, stock levels, reservations, and the stock file's import and export.

Everything here is read-only. Stock levels change through the stock import
(``stock_import_file``, which refuses an on-hand count below what is reserved
and gives new stock to the orders waiting for it) and through the order
services; reservations only through the order services. Editing ``on_hand``
in a form would bypass the locks and those checks. The export is
django-import-export's, in CSV or XLSX, with the list's filters applied.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from import_export.admin import ExportMixin

from core.actors import Actor
from core.admin_tools import ReadOnlyAdminMixin, admin_page
from core.exports import EXPORT_FORMATS
from core.money import money
from fulfillment.models import SKU, Reservation, Stock
from fulfillment.resources import StockResource
from fulfillment.services import (
    MAX_IMPORT_BYTES,
    STOCK_CSV_COLUMNS,
    StockImportError,
    stock_import_file,
)

IMPORT_PERMISSION = "fulfillment.change_stock"


# --- CSV import -------------------------------------------------------------------------


class StockImportForm(forms.Form):
    file = forms.FileField(
        label="Stock file",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,.xlsx"}),
        help_text=f"CSV (UTF-8) or Excel (.xlsx) with the columns {', '.join(STOCK_CSV_COLUMNS)}. The wholesale "
        "cost is an amount like 12.50; on hand replaces the current count. Nothing is written if any row is bad.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB.")
        return upload


def stock_import_view(model_admin: admin.ModelAdmin, request):
    """Upload a stock file and run ``stock_import_file``: counts on success, every bad row otherwise."""
    if not request.user.has_perm(IMPORT_PERMISSION):
        raise PermissionDenied
    errors: list[str] = []
    form = StockImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = stock_import_file(data=upload.read(), filename=upload.name, actor=Actor.for_user(request.user))
        except StockImportError as exc:
            errors = exc.errors
        else:
            filled = (
                f" {result.orders_cleared} order(s) waiting for stock are now fully reserved."
                if result.orders_cleared
                else ""
            )
            model_admin.message_user(
                request,
                f"Stock imported: {result.created} SKU(s) created, {result.updated} updated, {result.unchanged} "
                f"unchanged.{filled}",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:fulfillment_stock_changelist"))
    return admin_page(
        model_admin,
        request,
        "admin/fulfillment/stock/import_csv.html",
        title="Import stock",
        form=form,
        import_errors=errors,
        columns=STOCK_CSV_COLUMNS,
    )


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
class SKUAdmin(ExportMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The export (CSV or XLSX, the list's filters and search applied) is the import's format."""

    resource_classes = [StockResource]
    formats = EXPORT_FORMATS
    list_display = ("code", "name", "seller", "wholesale_cost_display", "on_hand", "reserved", "available")
    list_filter = ("seller",)
    search_fields = ("code", "name", "seller__code")
    search_help_text = "SKU code, product name or seller code."
    list_select_related = ("seller", "stock")
    fields = ("seller", "code", "name", "wholesale_cost_display", "created_at", "updated_at")
    readonly_fields = fields
    inlines = (StockInline,)
    change_list_template = "admin/fulfillment/sku/change_list.html"

    @admin.display(description="wholesale cost", ordering="wholesale_cost")
    def wholesale_cost_display(self, sku: SKU):
        return money(sku.wholesale_cost)

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
