"""The cancellation request as partners see it, and the list's filters.

Kept apart from the views so that the orders API (``POST /orders/{id}/cancel/``
answers 202 with a request) can use the same response without importing views.
"""

from __future__ import annotations

import django_filters
from django import forms
from rest_framework import serializers

from core.api.filters import UtcIsoDateTimeFilter
from orders.models import MARKETPLACE_STATUS, OrderStatus
from returns.models import CANCELLATION_TIKTOK_STATUS, CancellationRequest, CancellationStatus, RequestedBy

# Bigint primary keys: a larger number cannot be an id, and must not reach the database as one.
MAX_ID = 2**63 - 1

# The choice sets below are named in the schema by ``SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]``
# (several components have a ``status``), so they are module constants it can import.
CANCELLATION_MARKETPLACE_STATUSES = sorted(set(CANCELLATION_TIKTOK_STATUS.values()))
ORDER_MARKETPLACE_STATUSES = sorted({s for s in MARKETPLACE_STATUS.values() if s})


class CancellationRequestOutputSerializer(serializers.Serializer):
    """A buyer's cancellation request after the hold (R5), with TikTok Shop's status beside ours."""

    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_blank=True, help_text="The marketplace's id for the request, if sent.")
    order = serializers.IntegerField(source="order_id", help_text="Our order id.")
    order_external_id = serializers.CharField(source="order.external_id", help_text="The marketplace's order id.")
    seller = serializers.CharField(source="seller.code")
    status = serializers.ChoiceField(choices=CancellationStatus.choices)
    marketplace_status = serializers.ChoiceField(
        choices=CANCELLATION_MARKETPLACE_STATUSES,
        help_text="TikTok Shop's cancellation status: PENDING while the seller has not answered, COMPLETE once the "
        "order is cancelled, CANCELLED when the request was rejected or withdrawn.",
    )
    requested_by = serializers.ChoiceField(choices=RequestedBy.choices)
    reason = serializers.CharField(allow_blank=True, help_text="The buyer's reason.")
    requested_at = serializers.DateTimeField()
    respond_by = serializers.DateTimeField(
        help_text="If the seller has not answered by then, the request is approved automatically."
    )
    decided_at = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.SerializerMethodField(
        help_text="Who answered: `seller`, `staff`, `system` (approved automatically, or labelled first) or "
        "`partner` (withdrawn); null while pending."
    )
    decision_note = serializers.CharField(allow_blank=True, help_text="Why it was rejected, or a note.")
    order_status = serializers.ChoiceField(source="order.status", choices=OrderStatus.choices)
    order_marketplace_status = serializers.ChoiceField(
        source="order.marketplace_status",
        choices=ORDER_MARKETPLACE_STATUSES,
        allow_null=True,
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_decided_by(self, request: CancellationRequest) -> str | None:
        return request.decided_by.partition(":")[0] or None


class IdFilter(django_filters.NumberFilter):
    """A whole number within the id range (``NumberFilter`` alone takes decimals)."""

    field_class = forms.IntegerField


class CancellationRequestFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=CancellationStatus.choices)
    order = IdFilter(field_name="order_id", min_value=1, max_value=MAX_ID, help_text="Our order id.")
    order_external_id = django_filters.CharFilter(field_name="order__external_id", max_length=100)
    seller = django_filters.CharFilter(field_name="seller__code", max_length=32)
    external_id = django_filters.CharFilter(max_length=100)
    updated_since = UtcIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = CancellationRequest
        fields = ["status", "order", "order_external_id", "seller", "external_id", "updated_since"]
