"""Query filters of ``GET /api/v1/orders/``."""

import django_filters

from core.api.filters import UtcIsoDateTimeFilter
from orders.models import Order, OrderStatus


class OrderFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices)
    seller = django_filters.CharFilter(field_name="seller__code", max_length=32)
    updated_since = UtcIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    external_id = django_filters.CharFilter(max_length=100)

    class Meta:
        model = Order
        fields = ["status", "seller", "updated_since", "external_id"]
