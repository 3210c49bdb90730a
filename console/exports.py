"""Orders as export rows (django-import-export): the admin's CSV and XLSX downloads, with the list's filters.

No buyer details: an export leaves the back-office, so it carries what staff
work with (ids, seller, status, dates, amounts), never names or addresses (R12).
"""

from __future__ import annotations

from django.db.models import F, Sum
from import_export import fields

from core.exports import SafeResource
from orders.models import Order
from payments.resources import amount, local


class OrderResource(SafeResource):
    id = fields.Field(attribute="pk", column_name="order")
    external_id = fields.Field(attribute="external_id", column_name="marketplace order")
    seller = fields.Field(column_name="seller")
    status = fields.Field(column_name="status")
    placed = fields.Field(column_name="placed")
    buyer_paid = fields.Field(column_name="buyer paid")
    seller_paid = fields.Field(column_name="wholesale paid")
    items = fields.Field(column_name="items")
    buyer_total = fields.Field(column_name="buyer total")
    stock_exception = fields.Field(column_name="stock exception")
    ship_by = fields.Field(column_name="ship by")
    cancelled = fields.Field(column_name="cancelled")

    class Meta:
        model = Order
        fields = (
            "id",
            "external_id",
            "seller",
            "status",
            "placed",
            "buyer_paid",
            "seller_paid",
            "items",
            "buyer_total",
            "stock_exception",
            "ship_by",
            "cancelled",
        )
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("seller").annotate(
            export_items=Sum("lines__quantity"), export_total=Sum(F("lines__quantity") * F("lines__unit_price"))
        )

    def dehydrate_seller(self, order):
        return order.seller.code

    def dehydrate_status(self, order):
        return order.get_status_display()

    def dehydrate_placed(self, order):
        return local(order.placed_at)

    def dehydrate_buyer_paid(self, order):
        return local(order.buyer_paid_at)

    def dehydrate_seller_paid(self, order):
        return local(order.seller_paid_at)

    def dehydrate_items(self, order):
        return order.export_items or 0

    def dehydrate_buyer_total(self, order):
        return amount(order.export_total or 0)

    def dehydrate_stock_exception(self, order):
        return "yes" if order.stock_exception else "no"

    def dehydrate_ship_by(self, order):
        return local(order.ship_by)

    def dehydrate_cancelled(self, order):
        if not order.cancelled_at:
            return ""
        who = order.get_cancelled_by_display().lower()
        return f"{local(order.cancelled_at)} by {who}: {order.cancel_reason}"
