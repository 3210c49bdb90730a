"""Returns as export rows (django-import-export): the admin's CSV and XLSX downloads, with the list's filters."""

from __future__ import annotations

from import_export import fields

from core.exports import SafeResource
from payments.resources import amount, local
from returns.models import ReturnRequest


class ReturnResource(SafeResource):
    id = fields.Field(attribute="pk", column_name="return")
    order = fields.Field(column_name="order")
    external_id = fields.Field(column_name="marketplace order")
    seller = fields.Field(column_name="seller")
    type = fields.Field(column_name="type")
    status = fields.Field(column_name="status")
    reason = fields.Field(column_name="reason")
    requested = fields.Field(column_name="requested")
    items = fields.Field(column_name="items")
    refund = fields.Field(column_name="refund to the seller")
    replacement = fields.Field(column_name="replacement order")

    class Meta:
        model = ReturnRequest
        fields = (
            "id",
            "order",
            "external_id",
            "seller",
            "type",
            "status",
            "reason",
            "requested",
            "items",
            "refund",
            "replacement",
        )
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("order", "seller").prefetch_related("lines__order_line")

    def dehydrate_order(self, ret):
        return ret.order_id

    def dehydrate_external_id(self, ret):
        return ret.order.external_id

    def dehydrate_seller(self, ret):
        return ret.seller.code

    def dehydrate_type(self, ret):
        return ret.get_type_display()

    def dehydrate_status(self, ret):
        return ret.get_status_display()

    def dehydrate_reason(self, ret):
        return ret.reason_label

    def dehydrate_requested(self, ret):
        return local(ret.requested_at)

    def dehydrate_items(self, ret):
        return ", ".join(f"{line.quantity} × {line.order_line.sku_code}" for line in ret.lines.all())

    def dehydrate_refund(self, ret):
        return "" if ret.refund_amount is None else amount(ret.refund_amount)

    def dehydrate_replacement(self, ret):
        return ret.replacement_order_id or ""
