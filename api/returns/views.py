"""Partner API v1 for returns (R11): one view per operation, each calling a service or a selector.

Every view answers for ``request.user``, the authenticated Partner: returns on
another partner's orders, and those orders themselves, are not found (404).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.idempotency import IDEMPOTENCY_KEY_PARAMETER, IdempotentPostMixin
from accounts.models import Partner
from api.returns.serializers import MAX_ID, ReturnFilter, ReturnOutputSerializer
from core.actors import Actor
from core.api.errors import error_responses
from core.api.fields import plausible_time
from core.api.pagination import KeysetPagination, filtered_page_response
from core.api.schema import exactly_one_of, schema_one_of
from core.errors import NotFound
from returns.models import ReturnRequest, ReturnStatus, ReturnType
from returns.selectors import partner_order_id, return_get, return_list
from returns.services.returns import ReturnLineInput, return_create, return_shipment_update

TAG = ["returns"]
MAX_LINES = 100
MAX_QUANTITY = 10_000


def _get_or_404(partner: Partner, return_id: int) -> ReturnRequest:
    found = return_get(partner=partner, return_id=return_id)
    if found is None:
        raise NotFound(f"Return {return_id} not found.")
    return found


# --- POST /orders/{id}/returns/ -----------------------------------------------------------------


class OrderReturnCreateApi(IdempotentPostMixin, APIView):
    @extend_schema_serializer(component_name="ReturnCreateRequest")
    class InputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="ReturnLineInput")
        @schema_one_of("ReturnLineInput", exactly_one_of("line_id", "sku"))
        class LineInputSerializer(serializers.Serializer):
            line_id = serializers.IntegerField(
                min_value=1, max_value=MAX_ID, required=False, help_text="The order line's `id`; or give `sku`."
            )
            sku = serializers.CharField(
                max_length=64, required=False, help_text="The order line's SKU; or give `line_id`."
            )
            quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)

            def validate(self, attrs):
                if ("line_id" in attrs) == ("sku" in attrs):
                    raise ValidationError({"line_id": ["Give exactly one of line_id and sku."]}, code="line_required")
                return attrs

        type = serializers.ChoiceField(
            choices=ReturnType.choices,
            help_text=(
                "`refund_only`: nothing is sent back; `return_and_refund`; `replacement`: the units are sent again."
            ),
        )
        reason = serializers.CharField(max_length=100, help_text="Why, e.g. damaged, wrong_item, not_as_described.")
        buyer_note = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
        external_id = serializers.CharField(
            max_length=100,
            required=False,
            allow_blank=True,
            default="",
            help_text="The marketplace's id for this return. Sending it again for the order returns the same return.",
        )
        lines = LineInputSerializer(many=True, allow_empty=False, max_length=MAX_LINES)

    @extend_schema(
        tags=TAG,
        operation_id="returns_create",
        summary="Request a return",
        description=(
            "Records a buyer's return of some or all units of a delivered order, within its return window. "
            "The seller approves or rejects it; if they do not answer by `respond_by`, it is approved "
            "automatically. A return the buyer sends back then waits for the parcel (report it with "
            "`POST /returns/{id}/events/`). Refused: an order not delivered (409 `not_delivered`) or past its "
            "return window (409 `return_window_closed`); a line not on the order (400 `unknown_line`); more "
            "units than were ordered less those in other returns (400 `quantity_exceeds_returnable`); `errors` "
            "then names the lines. Repeating an `external_id` for the order returns the existing return with 200."
        ),
        request=InputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            201: OpenApiResponse(ReturnOutputSerializer, description="Created, waiting for the seller."),
            200: OpenApiResponse(
                ReturnOutputSerializer, description="Already requested: the existing return, unchanged."
            ),
            **error_responses(400, 401, 404, 409),
        },
    )
    def post(self, request, order_id: int):
        partner = request.user
        if partner_order_id(partner=partner, order_id=order_id) is None:
            raise NotFound(f"Order {order_id} not found.")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        ret, created = return_create(
            order_id=order_id,
            type=data["type"],
            reason=data["reason"],
            buyer_note=data["buyer_note"],
            external_id=data["external_id"],
            lines=[
                ReturnLineInput(quantity=line["quantity"], line_id=line.get("line_id"), sku=line.get("sku"))
                for line in data["lines"]
            ],
            actor=Actor.for_partner(partner),
        )
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(ReturnOutputSerializer(_get_or_404(partner, ret.pk)).data, status=answer)


# --- GET /returns/ and GET /returns/{id}/ ---------------------------------------------------------


class ReturnPagination(KeysetPagination):
    """Most recently changed first; the id breaks ties so pages never skip or repeat a return."""

    ordering = ("-updated_at", "-id")


class ReturnListApi(APIView):
    pagination_class = ReturnPagination

    @extend_schema(
        tags=TAG,
        operation_id="returns_list",
        summary="List returns",
        description=(
            "Returns on this partner's orders, most recently changed first, in pages of a fixed size. "
            "Follow `next` until it is null."
        ),
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=ReturnStatus.values, description="Our status."),
            OpenApiParameter("type", OpenApiTypes.STR, enum=ReturnType.values, description="The return type."),
            OpenApiParameter("order", OpenApiTypes.INT, description="Our order id."),
            OpenApiParameter("order_external_id", OpenApiTypes.STR, description="The marketplace's order id."),
            OpenApiParameter("seller", OpenApiTypes.STR, description="Seller code."),
            OpenApiParameter("external_id", OpenApiTypes.STR, description="The marketplace's id for the return."),
            OpenApiParameter(
                "updated_since",
                OpenApiTypes.DATETIME,
                description="Returns changed at or after this ISO 8601 time (URL-encode a `+` offset, or use `Z`).",
            ),
        ],
        responses={200: ReturnOutputSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request):
        return filtered_page_response(
            self,
            request,
            filterset_class=ReturnFilter,
            queryset=return_list(partner=request.user),
            serializer_class=ReturnOutputSerializer,
        )


class ReturnDetailApi(APIView):
    @extend_schema(
        tags=TAG,
        operation_id="returns_retrieve",
        summary="Get a return",
        description="One return on this partner's orders; another partner's return is not found (404).",
        responses={200: ReturnOutputSerializer, **error_responses(401, 404)},
    )
    def get(self, request, return_id: int):
        return Response(ReturnOutputSerializer(_get_or_404(request.user, return_id)).data)


# --- POST /returns/{id}/events/ --------------------------------------------------------------------


class ReturnEventApi(IdempotentPostMixin, APIView):
    @extend_schema_serializer(component_name="ReturnEventRequest")
    class InputSerializer(serializers.Serializer):
        type = serializers.ChoiceField(
            choices=["buyer_shipped"], help_text="`buyer_shipped`: the buyer handed the parcel back to a carrier."
        )
        carrier = serializers.CharField(max_length=32, help_text="A carrier code from `GET /carriers/`.")
        tracking_number = serializers.CharField(
            max_length=64, help_text="Must match the carrier's `tracking_pattern` (spaces removed, upper-cased)."
        )
        at = serializers.DateTimeField(
            required=False,
            allow_null=True,
            default=None,
            validators=[plausible_time],
            help_text="When the buyer shipped it; now if absent.",
        )

    @extend_schema(
        tags=TAG,
        operation_id="returns_event",
        summary="Report the return parcel's progress",
        description=(
            "`buyer_shipped` records the carrier and tracking number of the parcel the buyer sent back: the "
            "return is `in_transit` (TikTok BUYER_SHIPPED_ITEM). Sending the same carrier and number again "
            "changes nothing; different ones while the parcel is on its way correct them. The parcel's "
            "arrival is recorded by our warehouse when it receives it. Refused: a `refund_only` return "
            "(409 `no_return_shipment`), one not approved yet (409 `not_approved`), one already received "
            "(409 `not_awaiting_shipment`); an unknown or inactive carrier (400 `unknown_carrier`, "
            "`carrier_inactive`) or a tracking number it does not issue (400 `tracking_number_invalid`)."
        ),
        request=InputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={200: ReturnOutputSerializer, **error_responses(400, 401, 404, 409)},
    )
    def post(self, request, return_id: int):
        partner = request.user
        ret = _get_or_404(partner, return_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return_shipment_update(
            return_id=ret.pk,
            carrier=data["carrier"],
            tracking_number=data["tracking_number"],
            shipped_at=data["at"],
            actor=Actor.for_partner(partner),
        )
        return Response(ReturnOutputSerializer(_get_or_404(partner, ret.pk)).data)
