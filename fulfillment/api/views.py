"""Partner API v1 for stock: what each SKU can still sell, for marketplace inventory sync."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.views import APIView

from backoffice.api_errors import error_responses
from backoffice.api_pagination import KeysetPagination
from fulfillment.api.filters import StockFilter
from fulfillment.api.serializers import StockOutputSerializer
from fulfillment.selectors import stock_list


class StockPagination(KeysetPagination):
    """By SKU id: stable while stock figures change between pages."""

    ordering = ("id",)


class StockListApi(APIView):
    pagination_class = StockPagination

    @extend_schema(
        tags=["stock"],
        operation_id="stock_list",
        summary="List available stock",
        description=(
            "Every SKU of the sellers this partner may act for, with on-hand, reserved and available "
            "quantities. Follow `next` until it is null."
        ),
        parameters=[
            OpenApiParameter("seller", OpenApiTypes.STR, description="Seller code."),
            OpenApiParameter("sku", OpenApiTypes.STR, description="SKU code."),
        ],
        responses={200: StockOutputSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request):
        filters = StockFilter(request.query_params, queryset=stock_list(partner=request.user))
        if not filters.is_valid():
            raise ValidationError({name: list(messages) for name, messages in filters.errors.items()})
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(filters.qs, request, view=self)
        return paginator.get_paginated_response(StockOutputSerializer(page, many=True).data)
