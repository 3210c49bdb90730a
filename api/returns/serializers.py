"""The return as partners see it, and the list's filters."""

from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import MinorUnitsField
from core.api.filters import UtcIsoDateTimeFilter
from payments.models import RefundStatus
from returns.models import RETURN_TIKTOK_STATUS, RequestedBy, ReturnRequest, ReturnStatus, ReturnType

# Bigint primary keys: a larger number cannot be an id, and must not reach the database as one.
MAX_ID = 2**63 - 1


class ReturnLineOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The return line's id.")
    order_line_id = serializers.IntegerField(help_text="The order line it returns units of.")
    sku = serializers.CharField(source="order_line.sku_code")
    quantity = serializers.IntegerField(help_text="Units the buyer returns.")
    received_quantity = serializers.IntegerField(allow_null=True, help_text="Units that reached the warehouse.")
    resellable_quantity = serializers.IntegerField(
        allow_null=True, help_text="Units found resellable at inspection; they went back into stock."
    )
    damaged_quantity = serializers.IntegerField(allow_null=True, help_text="Units found damaged at inspection.")


class CarrierRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class ReturnShipmentOutputSerializer(serializers.Serializer):
    carrier = CarrierRefSerializer(source="return_carrier")
    tracking_number = serializers.CharField(source="return_tracking_number")
    tracking_url = serializers.SerializerMethodField()
    shipped_at = serializers.DateTimeField(source="shipped_back_at")

    def get_tracking_url(self, ret: ReturnRequest) -> str | None:
        return ret.return_carrier.tracking_link(ret.return_tracking_number) or None


class ReturnRefundOutputSerializer(serializers.Serializer):
    amount = MinorUnitsField(source="refund_amount", help_text='Refunded to the seller, e.g. "12.50"; "0.00" for none.')
    status = serializers.SerializerMethodField(
        help_text="`none` when Finance decided not to refund; otherwise the refund's progress at Stripe."
    )

    @extend_schema_field(serializers.ChoiceField(choices=["none", *RefundStatus.values]))
    def get_status(self, ret: ReturnRequest) -> str:
        return ret.refund.status if ret.refund is not None else "none"


class ReturnOutputSerializer(serializers.Serializer):
    """A return (R11), with TikTok Shop's return status beside ours."""

    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_blank=True, help_text="The marketplace's id for the return, if sent.")
    order = serializers.IntegerField(source="order_id", help_text="Our order id.")
    order_external_id = serializers.CharField(source="order.external_id", help_text="The marketplace's order id.")
    seller = serializers.CharField(source="seller.code")
    type = serializers.ChoiceField(choices=ReturnType.choices)
    status = serializers.ChoiceField(choices=ReturnStatus.choices)
    marketplace_status = serializers.ChoiceField(
        choices=sorted(set(RETURN_TIKTOK_STATUS.values())), help_text="TikTok Shop's `return_status` for this status."
    )
    requested_by = serializers.ChoiceField(choices=RequestedBy.choices)
    reason = serializers.CharField()
    buyer_note = serializers.CharField(allow_blank=True)
    requested_at = serializers.DateTimeField()
    respond_by = serializers.DateTimeField(
        help_text="If the seller has not answered by then, the return is approved automatically."
    )
    decided_at = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.SerializerMethodField(
        help_text="Who answered: `seller`, `staff` or `system` (approved automatically); null while requested."
    )
    decision_note = serializers.CharField(allow_blank=True, help_text="Why it was rejected, or a note.")
    lines = ReturnLineOutputSerializer(many=True, source="lines.all")
    return_shipment = serializers.SerializerMethodField(help_text="The parcel back, once the buyer shipped it.")
    received_at = serializers.DateTimeField(allow_null=True)
    inspected_at = serializers.DateTimeField(allow_null=True)
    refund = serializers.SerializerMethodField(
        help_text="The seller's wholesale refund, once Finance decided it (null before, and for replacements)."
    )
    replacement_order = serializers.IntegerField(
        source="replacement_order_id", allow_null=True, help_text="Our id of the new order that replaces the units."
    )
    resolved_at = serializers.DateTimeField(allow_null=True, help_text="Refunded, replaced or rejected.")
    resolution_note = serializers.CharField(allow_blank=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_decided_by(self, ret: ReturnRequest) -> str | None:
        return ret.decided_by.partition(":")[0] or None

    @extend_schema_field(ReturnShipmentOutputSerializer(allow_null=True))
    def get_return_shipment(self, ret: ReturnRequest):
        return ReturnShipmentOutputSerializer(ret).data if ret.return_carrier_id else None

    @extend_schema_field(ReturnRefundOutputSerializer(allow_null=True))
    def get_refund(self, ret: ReturnRequest):
        return ReturnRefundOutputSerializer(ret).data if ret.refund_amount is not None else None


class IdFilter(django_filters.NumberFilter):
    """A whole number within the id range (``NumberFilter`` alone takes decimals)."""

    field_class = forms.IntegerField


class ReturnFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ReturnStatus.choices)
    type = django_filters.ChoiceFilter(choices=ReturnType.choices)
    order = IdFilter(field_name="order_id", min_value=1, max_value=MAX_ID, help_text="Our order id.")
    order_external_id = django_filters.CharFilter(field_name="order__external_id", max_length=100)
    seller = django_filters.CharFilter(field_name="seller__code", max_length=32)
    external_id = django_filters.CharFilter(max_length=100)
    updated_since = UtcIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = ReturnRequest
        fields = ["status", "type", "order", "order_external_id", "seller", "external_id", "updated_since"]
