"""Query filters of ``GET /api/v1/stock/``."""

import django_filters

from fulfillment.models import SKU


class StockFilter(django_filters.FilterSet):
    seller = django_filters.CharFilter(field_name="seller__code", max_length=32)
    sku = django_filters.CharFilter(field_name="code", max_length=64)

    class Meta:
        model = SKU
        fields = ["seller", "sku"]
