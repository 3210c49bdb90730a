"""Partner API v1 for orders: one view per operation, each calling a service or a selector.

Every view answers for ``request.user``, the authenticated Partner. Orders of
other partners are never found (404), and sellers the partner is not linked to
are invalid input (400). Request bodies are validated by the view's own
``InputSerializer`` before anything is written; responses use the shared
``OrderOutputSerializer``, which masks buyer details (R12).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.idempotency import IDEMPOTENCY_KEY_PARAMETER, IdempotentPostMixin
from accounts.models import Partner
from api.cancellations.serializers import CancellationRequestOutputSerializer
from api.orders.filters import OrderFilter
from api.orders.serializers import OrderOutputSerializer
from core.actors import Actor
from core.api.errors import error_responses
from core.api.fields import MinorUnitsField, plausible_time
from core.api.pagination import KeysetPagination, filtered_page_response
from core.api.schema import required_when, schema_one_of
from core.errors import InvalidInput, NotFound, TransitionRefused
from orders.models import CancelledBy, Order, OrderStatus
from orders.selectors import order_get, order_list, partner_seller_get
from orders.services import (
    UNKNOWN_SELLER,
    IntakeData,
    IntakeLine,
    order_cancel,
    order_intake,
    order_record_buyer_payment,
)
from returns.services.cancellations import cancellation_request_create

# Upper bounds on one request's work; far above any real marketplace order.
MAX_LINES = 100
MAX_QUANTITY = 10_000

ORDER_TAG = ["orders"]


def _get_order_or_404(partner: Partner, order_id: int) -> Order:
    order = order_get(partner=partner, order_id=order_id)
    if order is None:
        raise NotFound(f"Order {order_id} not found.")
    return order


class PartnerApiView(APIView):
    """Base of every partner API view: JSON in (settings' parser), JSON out, errors in the one API shape."""


# --- GET /orders/ and POST /orders/ -----------------------------------------------------


class OrderPagination(KeysetPagination):
    """Most recently changed first; the id breaks ties so pages never skip or repeat an order."""

    ordering = ("-updated_at", "-id")


class OrderListApi(PartnerApiView):
    pagination_class = OrderPagination

    @extend_schema(
        tags=ORDER_TAG,
        operation_id="orders_list",
        summary="List orders",
        description=(
            "The partner's orders, most recently updated first, in pages of a fixed size. "
            "Follow `next` until it is null. For an incremental sync, pass the time the previous "
            "sync started as `updated_since`."
        ),
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=OrderStatus.values, description="Our status."),
            OpenApiParameter("seller", OpenApiTypes.STR, description="Seller code."),
            OpenApiParameter(
                "updated_since",
                OpenApiTypes.DATETIME,
                description="Orders changed at or after this ISO 8601 time (URL-encode a `+` offset, or use `Z`).",
            ),
            OpenApiParameter("external_id", OpenApiTypes.STR, description="The marketplace's order id."),
        ],
        responses={200: OrderOutputSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request):
        return filtered_page_response(
            self,
            request,
            filterset_class=OrderFilter,
            queryset=order_list(partner=request.user),
            serializer_class=OrderOutputSerializer,
        )


class OrderCreateApi(IdempotentPostMixin, PartnerApiView):
    @extend_schema_serializer(component_name="OrderCreateRequest")
    @schema_one_of("OrderCreateRequest", required_when("buyer_payment", "paid", "paid_at", others=["pending"]))
    class InputSerializer(serializers.Serializer):
        class BuyerInputSerializer(serializers.Serializer):
            name = serializers.CharField(max_length=200)
            phone = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
            email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")

        class AddressInputSerializer(serializers.Serializer):
            line1 = serializers.CharField(max_length=200)
            line2 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
            city = serializers.CharField(max_length=100)
            region = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
            postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
            country = serializers.RegexField(
                r"^[A-Za-z]{2}$",
                help_text="ISO 3166-1 alpha-2 code, e.g. US.",
                error_messages={"invalid": "Use a two-letter country code."},
            )

            def validate_country(self, value: str) -> str:
                return value.upper()

        class LineInputSerializer(serializers.Serializer):
            sku = serializers.CharField(
                max_length=64, help_text="The seller's SKU code; an unknown one is accepted and flagged."
            )
            quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
            unit_price = MinorUnitsField(help_text='The buyer\'s unit price as a decimal string, e.g. "19.99".')

        external_id = serializers.CharField(max_length=100, help_text="The marketplace's order id; unique per partner.")
        seller = serializers.CharField(
            max_length=32,
            help_text="Code of a seller this partner may act for; any other is refused with `unknown_seller`.",
        )
        placed_at = serializers.DateTimeField(validators=[plausible_time])
        buyer_payment = serializers.ChoiceField(choices=["pending", "paid"])
        paid_at = serializers.DateTimeField(
            required=False,
            allow_null=True,
            default=None,
            validators=[plausible_time],
            help_text='Required when `buyer_payment` is "paid"; must be absent or null otherwise.',
        )
        buyer = BuyerInputSerializer()
        shipping_address = AddressInputSerializer()
        lines = LineInputSerializer(many=True, allow_empty=False, max_length=MAX_LINES)

        def validate_seller(self, code: str) -> str:
            """Only a seller the partner may act for; unknown and unlinked sellers look the same."""
            if partner_seller_get(partner=self.context["partner"], code=code) is None:
                raise ValidationError(UNKNOWN_SELLER, code="unknown_seller")
            return code

        def validate(self, attrs):
            paid_at = attrs.get("paid_at")
            if attrs["buyer_payment"] == "paid":
                if paid_at is None:
                    raise ValidationError({"paid_at": ["Required when buyer_payment is paid."]}, code="required")
                if paid_at < attrs["placed_at"]:
                    raise ValidationError({"paid_at": ["Must not be before placed_at."]}, code="before_placed")
            elif paid_at is not None:
                raise ValidationError({"paid_at": ["Only allowed when buyer_payment is paid."]}, code="not_paid")
            return attrs

    @extend_schema(
        tags=ORDER_TAG,
        operation_id="orders_create",
        summary="Push an order",
        description=(
            "Creates the order and reserves stock for it. The order is accepted even when the buyer has "
            "not paid, and even for unknown SKUs or missing stock: those set `stock_exception`. "
            "Sending an `external_id` this partner already sent returns the existing order with 200 "
            "and changes nothing."
        ),
        request=InputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            201: OpenApiResponse(OrderOutputSerializer, description="Created."),
            200: OpenApiResponse(OrderOutputSerializer, description="Already known: the existing order, unchanged."),
            **error_responses(400, 401, 409, 413),
        },
    )
    def post(self, request):
        partner = request.user
        serializer = self.InputSerializer(data=request.data, context={"partner": partner})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            order, created = order_intake(
                partner=partner,
                data=IntakeData(
                    external_id=data["external_id"],
                    seller_code=data["seller"],
                    placed_at=data["placed_at"],
                    buyer_paid_at=data["paid_at"],
                    lines=[
                        IntakeLine(sku=line["sku"], quantity=line["quantity"], unit_price=line["unit_price"])
                        for line in data["lines"]
                    ],
                    buyer=dict(data["buyer"]),
                    shipping_address=dict(data["shipping_address"]),
                ),
                actor=Actor.for_partner(partner),
            )
        except InvalidInput as exc:
            if exc.code != "unknown_seller":
                raise
            raise ValidationError({"seller": [ErrorDetail(exc.detail, code=exc.code)]}) from None
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(OrderOutputSerializer(_get_order_or_404(partner, order.pk)).data, status=answer)


class OrderCollectionApi(OrderCreateApi, OrderListApi):
    """``/orders/`` serves two operations; a URL maps to one view class, so this one only joins them."""


# --- GET /orders/{id}/ ------------------------------------------------------------------


class OrderDetailApi(PartnerApiView):
    @extend_schema(
        tags=ORDER_TAG,
        operation_id="orders_retrieve",
        summary="Get an order",
        description="One of this partner's orders; another partner's order is not found (404).",
        responses={200: OrderOutputSerializer, **error_responses(401, 404)},
    )
    def get(self, request, order_id: int):
        return Response(OrderOutputSerializer(_get_order_or_404(request.user, order_id)).data)


# --- POST /orders/{id}/buyer-payment/ ---------------------------------------------------


class OrderBuyerPaymentApi(IdempotentPostMixin, PartnerApiView):
    @extend_schema_serializer(component_name="BuyerPaymentRequest")
    @schema_one_of("BuyerPaymentRequest", required_when("status", "paid", "paid_at", others=["failed"]))
    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=["paid", "failed"])
        paid_at = serializers.DateTimeField(
            required=False,
            allow_null=True,
            default=None,
            validators=[plausible_time],
            help_text='Required when `status` is "paid"; must be absent or null for "failed".',
        )

        def validate(self, attrs):
            if attrs["status"] == "paid" and attrs["paid_at"] is None:
                raise ValidationError({"paid_at": ["Required when status is paid."]}, code="required")
            if attrs["status"] == "failed" and attrs["paid_at"] is not None:
                raise ValidationError({"paid_at": ["Only allowed when status is paid."]}, code="not_paid")
            return attrs

    @extend_schema(
        tags=ORDER_TAG,
        operation_id="orders_buyer_payment",
        summary="Record the buyer's payment",
        description=(
            '"paid" puts an unpaid order on hold until `paid_at` plus the hold period; during the hold '
            'the buyer or the platform may still cancel freely. "failed" records a declined attempt: the '
            'order stays unpaid and the buyer may retry until `payment_due_at`. Repeating "paid" for an '
            "order already paid changes nothing."
        ),
        request=InputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={200: OrderOutputSerializer, **error_responses(400, 401, 404, 409)},
    )
    def post(self, request, order_id: int):
        partner = request.user
        order = _get_order_or_404(partner, order_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        order_record_buyer_payment(
            order_id=order.pk, paid=data["status"] == "paid", paid_at=data["paid_at"], actor=Actor.for_partner(partner)
        )
        return Response(OrderOutputSerializer(_get_order_or_404(partner, order.pk)).data)


# --- POST /orders/{id}/cancel/ ----------------------------------------------------------


class OrderCancelApi(IdempotentPostMixin, PartnerApiView):
    @extend_schema_serializer(component_name="OrderCancelRequest")
    class InputSerializer(serializers.Serializer):
        by = serializers.ChoiceField(
            choices=[CancelledBy.BUYER, CancelledBy.PLATFORM, CancelledBy.SELLER],
            help_text="Who cancels: the buyer or the platform (until the hold ends), or the seller (until shipped).",
        )
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(
        tags=ORDER_TAG,
        operation_id="orders_cancel",
        summary="Cancel an order",
        description=(
            "Cancels where the rules allow it without the seller's approval, and releases the order's "
            "stock: 200 with the order. After the hold a buyer's cancellation needs the seller's approval: "
            "it becomes a cancellation request, answered 202 with the request (see "
            "`/cancellation-requests/`); asking again while it is pending answers 202 with the same request. "
            "Shipped orders cannot be cancelled: 409 `already_shipped`. Cancelling a cancelled order "
            "changes nothing."
        ),
        request=InputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            200: OpenApiResponse(OrderOutputSerializer, description="Cancelled (or already cancelled): the order."),
            202: OpenApiResponse(
                CancellationRequestOutputSerializer,
                description="A buyer's cancellation after the hold: the request now waiting for the seller.",
            ),
            **error_responses(400, 401, 404, 409),
        },
    )
    def post(self, request, order_id: int):
        partner = request.user
        order = _get_order_or_404(partner, order_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = Actor.for_partner(partner)
        try:
            order_cancel(order_id=order.pk, by=data["by"], reason=data["reason"], actor=actor)
        except TransitionRefused as exc:
            if exc.code != "approval_required":
                raise
            try:
                cancel_request, _ = cancellation_request_create(order_id=order.pk, reason=data["reason"], actor=actor)
            except TransitionRefused as race:
                if race.code != "already_cancelled":  # cancelled another way in between: as a repeat, 200
                    raise
            else:
                return Response(
                    CancellationRequestOutputSerializer(cancel_request).data, status=status.HTTP_202_ACCEPTED
                )
        return Response(OrderOutputSerializer(_get_order_or_404(partner, order.pk)).data)


# --- GET /ping/ ---------------------------------------------------------------------------


class PingApi(PartnerApiView):
    """The cheapest authenticated call: checks a key, and is the ingest benchmark's baseline."""

    @extend_schema_serializer(component_name="Ping")
    class OutputSerializer(serializers.Serializer):
        partner = serializers.CharField(help_text="The name of the partner the key belongs to.")

    @extend_schema(
        tags=["partner"],
        operation_id="ping",
        summary="Check the API key",
        responses={200: OutputSerializer, **error_responses(401)},
    )
    def get(self, request):
        return Response(self.OutputSerializer({"partner": request.user.name}).data)
