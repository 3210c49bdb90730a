"""Partner API v1 for fulfilment: stock for marketplace inventory sync, the carrier list, and carrier events."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.idempotency import IDEMPOTENCY_KEY_PARAMETER, IdempotentPostMixin
from api.fulfillment.filters import StockFilter
from api.fulfillment.serializers import CarrierOutputSerializer, StockOutputSerializer
from api.orders.serializers import OrderOutputSerializer
from core.actors import Actor
from core.api.errors import error_responses
from core.api.fields import plausible_time
from core.api.pagination import KeysetPagination, filtered_page_response
from core.errors import NotFound
from fulfillment.models import CARRIER_EVENT_TYPES
from fulfillment.selectors import carrier_list, stock_list
from fulfillment.services import shipment_record_carrier_event
from orders.selectors import order_get


def get_order_or_404(partner, order_id: int):
    """One of ``partner``'s orders; another partner's order is not found (404)."""
    order = order_get(partner=partner, order_id=order_id)
    if order is None:
        raise NotFound(f"Order {order_id} not found.")
    return order


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
        return filtered_page_response(
            self,
            request,
            filterset_class=StockFilter,
            queryset=stock_list(partner=request.user),
            serializer_class=StockOutputSerializer,
        )


# --- GET /carriers/ ---------------------------------------------------------------------


class CarrierPagination(KeysetPagination):
    ordering = ("code",)


class CarrierListApi(APIView):
    pagination_class = CarrierPagination

    @extend_schema(
        tags=["carriers"],
        operation_id="carriers_list",
        summary="List carriers",
        description=(
            "The carriers parcels are labelled with (kept by staff; only active ones), with the pattern their "
            "tracking numbers follow and the handover methods they offer."
        ),
        responses={200: CarrierOutputSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(carrier_list(), request, view=self)
        return paginator.get_paginated_response(CarrierOutputSerializer(page, many=True).data)


# --- POST /orders/{id}/shipment-events/ -------------------------------------------------


class OrderShipmentEventApi(IdempotentPostMixin, APIView):
    @extend_schema_serializer(component_name="ShipmentEventRequest")
    class InputSerializer(serializers.Serializer):
        type = serializers.ChoiceField(choices=CARRIER_EVENT_TYPES)
        at = serializers.DateTimeField(validators=[plausible_time], help_text="When the carrier recorded the event.")
        note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(
        tags=["orders"],
        operation_id="orders_shipment_event",
        summary="Report a carrier event",
        description=(
            "Moves the parcel and the order: `picked_up` or the first `in_transit` puts a labelled order "
            "in transit; `delivery_failed` counts an attempt (at the limit the order becomes `lost` on the "
            "next timer pass); `delivered` delivers it. Events are accepted only in order: a state they "
            "cannot follow, a time before labelling, or a time earlier than the last event is refused with "
            "409 `event_out_of_order`. The same event again (same `type` and `at`) is ignored and the "
            "order returned unchanged."
        ),
        request=InputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={200: OrderOutputSerializer, **error_responses(400, 401, 404, 409)},
    )
    def post(self, request, order_id: int):
        partner = request.user
        order = get_order_or_404(partner, order_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        shipment_record_carrier_event(
            order_id=order.pk, type=data["type"], at=data["at"], note=data["note"], actor=Actor.for_partner(partner)
        )
        return Response(OrderOutputSerializer(get_order_or_404(partner, order.pk)).data)
