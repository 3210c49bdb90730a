"""The payments ledger as export rows (django-import-export), for Finance's CSV and XLSX downloads in the admin.

Amounts are numbers in major units (12.50), statuses and methods in words;
text cells are formula-safe (``core.exports.SafeResource``).
"""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone
from import_export import fields

from core.exports import SafeResource
from payments.models import Payment, Refund


def amount(minor_units: int) -> Decimal:
    return Decimal(minor_units).scaleb(-2)


def local(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}" if moment else ""


class PaymentResource(SafeResource):
    id = fields.Field(attribute="pk", column_name="payment")
    seller = fields.Field(column_name="seller")
    method = fields.Field(column_name="method")
    how = fields.Field(column_name="how")
    status = fields.Field(column_name="status")
    amount = fields.Field(column_name="amount")
    refunded = fields.Field(column_name="refunded")
    currency = fields.Field(column_name="currency")
    reference = fields.Field(column_name="reference")
    orders = fields.Field(column_name="orders")
    paid_on = fields.Field(column_name="paid on")
    created = fields.Field(column_name="created")

    class Meta:
        model = Payment
        fields = (
            "id",
            "seller",
            "method",
            "how",
            "status",
            "amount",
            "refunded",
            "currency",
            "reference",
            "orders",
            "paid_on",
            "created",
        )
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("seller").prefetch_related("allocations__order")

    def dehydrate_seller(self, payment):
        return payment.seller.code

    def dehydrate_method(self, payment):
        return payment.get_method_display()

    def dehydrate_how(self, payment):
        return payment.get_trigger_display()

    def dehydrate_status(self, payment):
        return payment.get_status_display()

    def dehydrate_amount(self, payment):
        return amount(payment.amount)

    def dehydrate_refunded(self, payment):
        return amount(payment.amount_refunded)

    def dehydrate_currency(self, payment):
        return payment.currency.upper()

    def dehydrate_reference(self, payment):
        return payment.reference or payment.stripe_payment_intent_id

    def dehydrate_orders(self, payment):
        return " ".join(a.order.external_id for a in payment.allocations.all())

    def dehydrate_paid_on(self, payment):
        if payment.received_on:
            return payment.received_on.isoformat()
        return f"{timezone.localdate(payment.succeeded_at):%Y-%m-%d}" if payment.succeeded_at else ""

    def dehydrate_created(self, payment):
        return local(payment.created_at)


class RefundResource(SafeResource):
    id = fields.Field(attribute="pk", column_name="refund")
    payment = fields.Field(attribute="payment_id", column_name="payment")
    seller = fields.Field(column_name="seller")
    kind = fields.Field(column_name="why")
    method = fields.Field(column_name="method")
    status = fields.Field(column_name="status")
    amount = fields.Field(column_name="amount")
    reference = fields.Field(column_name="reference")
    order = fields.Field(column_name="order")
    reason = fields.Field(attribute="reason", column_name="reason")
    done_on = fields.Field(column_name="done on")
    created = fields.Field(column_name="created")

    class Meta:
        model = Refund
        fields = (
            "id",
            "payment",
            "seller",
            "kind",
            "method",
            "status",
            "amount",
            "reference",
            "order",
            "reason",
            "done_on",
            "created",
        )
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("payment__seller", "allocation__order")

    def dehydrate_seller(self, refund):
        return refund.payment.seller.code

    def dehydrate_kind(self, refund):
        return refund.get_kind_display()

    def dehydrate_method(self, refund):
        return refund.get_method_display()

    def dehydrate_status(self, refund):
        return refund.get_status_display()

    def dehydrate_amount(self, refund):
        return amount(refund.amount)

    def dehydrate_reference(self, refund):
        return refund.reference or refund.stripe_refund_id

    def dehydrate_order(self, refund):
        return refund.allocation.order.external_id if refund.allocation_id else ""

    def dehydrate_done_on(self, refund):
        if refund.sent_on:
            return refund.sent_on.isoformat()
        return f"{timezone.localdate(refund.completed_at):%Y-%m-%d}" if refund.completed_at else ""

    def dehydrate_created(self, refund):
        return local(refund.created_at)
