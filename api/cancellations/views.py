"""Partner API v1 for cancellation requests (R5): one view per operation, each calling a service or a selector.

Every view answers for ``request.user``, the authenticated Partner: requests
on another partner's orders, and those orders themselves, are not found (404).
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
from api.cancellations.serializers import MAX_ID, CancellationRequestFilter, CancellationRequestOutputSerializer
from core.actors import Actor
from core.api.errors import error_responses
from core.api.pagination import KeysetPagination, filtered_page_response
from core.api.schema import exactly_one_of, schema_one_of
from core.errors import NotFound
from returns.models import CancellationRequest, CancellationStatus
from returns.selectors import cancellation_request_get, cancellation_request_list, partner_order_id
from returns.services.cancellations import cancellation_request_create, cancellation_request_withdraw

TAG = ["cancellation requests"]


def _get_or_404(partner: Partner, request_id: int) -> CancellationRequest:
    found = cancellation_request_get(partner=partner, request_id=request_id)
    if found is None:
        raise NotFound(f"Cancellation request {request_id} not found.")
    return found


# --- GET /cancellation-requests/ and POST /cancellation-requests/ ---------------------------------


class CancellationRequestPagination(KeysetPagination):
    """Most recently changed first; the id breaks ties so pages never skip or repeat a request."""

    ordering = ("-updated_at", "-id")


class CancellationRequestListApi(APIView):
    pagination_class = CancellationRequestPagination

    @extend_schema(
        tags=TAG,
        operation_id="cancellation_requests_list",
        summary="List cancellation requests",
        description=(
            "Cancellation requests on this partner's orders, most recently changed first, in pages of a "
            "fixed size. Follow `next` until it is null. Pass `status=pending` for the requests still "
            "waiting for the seller."
        ),
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=CancellationStatus.values, description="Our status."),
            OpenApiParameter("order", OpenApiTypes.INT, description="Our order id."),
            OpenApiParameter("order_external_id", OpenApiTypes.STR, description="The marketplace's order id."),
            OpenApiParameter("seller", OpenApiTypes.STR, description="Seller code."),
            OpenApiParameter("external_id", OpenApiTypes.STR, description="The marketplace's id for the request."),
            OpenApiParameter(
                "updated_since",
                OpenApiTypes.DATETIME,
                description="Requests changed at or after this ISO 8601 time (URL-encode a `+` offset, or use `Z`).",
            ),
        ],
        responses={200: CancellationRequestOutputSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request):
        return filtered_page_response(
            self,
            request,
            filterset_class=CancellationRequestFilter,
            queryset=cancellation_request_list(partner=request.user),
            serializer_class=CancellationRequestOutputSerializer,
        )


class CancellationRequestCreateApi(IdempotentPostMixin, APIView):
    @extend_schema_serializer(component_name="CancellationRequestCreateRequest")
    @schema_one_of("CancellationRequestCreateRequest", exactly_one_of("order", "order_external_id"))
    class InputSerializer(serializers.Serializer):
        order = serializers.IntegerField(
            min_value=1, max_value=MAX_ID, required=False, help_text="Our order id; or give `order_external_id`."
        )
        order_external_id = serializers.CharField(
            max_length=100, required=False, help_text="The marketplace's order id; or give `order`."
        )
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
        external_id = serializers.CharField(
            max_length=100,
            required=False,
            allow_blank=True,
            default="",
            help_text="The marketplace's id for this request. Sending it again returns the same request.",
        )

        def validate(self, attrs):
            if ("order" in attrs) == ("order_external_id" in attrs):
                raise ValidationError(
                    {"order": ["Give exactly one of order and order_external_id."]}, code="order_required"
                )
            return attrs

    @extend_schema(
        tags=TAG,
        operation_id="cancellation_requests_create",
        summary="Ask to cancel an order after its hold",
        description=(
            "Records the buyer's wish to cancel an order whose hold has ended. The seller approves or "
            "rejects it; if they do not answer by `respond_by`, it is approved automatically. Approval "
            "cancels the order (`order.cancelled`), releases its stock and refunds the seller. Labelling "
            "the parcel first rejects it. While a request is pending, asking again returns it with 200 "
            "(so does repeating an `external_id`). During the hold cancel the order directly instead "
            "(409 `approval_not_needed`); shipped orders cannot be cancelled (409 `already_shipped`)."
        ),
        request=InputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            201: OpenApiResponse(CancellationRequestOutputSerializer, description="Created, waiting for the seller."),
            200: OpenApiResponse(
                CancellationRequestOutputSerializer, description="Already requested: the existing request."
            ),
            **error_responses(400, 401, 404, 409),
        },
    )
    def post(self, request):
        partner = request.user
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        order_id = partner_order_id(
            partner=partner, order_id=data.get("order"), external_id=data.get("order_external_id")
        )
        if order_id is None:
            raise NotFound(f"Order {data.get('order') or data.get('order_external_id')} not found.")
        created_request, created = cancellation_request_create(
            order_id=order_id, reason=data["reason"], external_id=data["external_id"], actor=Actor.for_partner(partner)
        )
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(
            CancellationRequestOutputSerializer(_get_or_404(partner, created_request.pk)).data, status=answer
        )


class CancellationRequestCollectionApi(CancellationRequestCreateApi, CancellationRequestListApi):
    """``/cancellation-requests/`` serves two operations; a URL maps to one view class, so this one only joins them."""


# --- GET /cancellation-requests/{id}/ -----------------------------------------------------------


class CancellationRequestDetailApi(APIView):
    @extend_schema(
        tags=TAG,
        operation_id="cancellation_requests_retrieve",
        summary="Get a cancellation request",
        description="One request on this partner's orders; another partner's is not found (404).",
        responses={200: CancellationRequestOutputSerializer, **error_responses(401, 404)},
    )
    def get(self, request, request_id: int):
        return Response(CancellationRequestOutputSerializer(_get_or_404(request.user, request_id)).data)


# --- POST /cancellation-requests/{id}/withdraw/ -------------------------------------------------


class CancellationRequestWithdrawApi(IdempotentPostMixin, APIView):
    @extend_schema_serializer(component_name="CancellationRequestWithdrawRequest")
    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(
        tags=TAG,
        operation_id="cancellation_requests_withdraw",
        summary="Withdraw a cancellation request",
        description=(
            "The buyer no longer wants to cancel: the order goes ahead. Withdrawing a withdrawn request "
            "changes nothing; one the seller already answered is 409 `not_pending`."
        ),
        request=InputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={200: CancellationRequestOutputSerializer, **error_responses(400, 401, 404, 409)},
    )
    def post(self, request, request_id: int):
        partner = request.user
        found = _get_or_404(partner, request_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cancellation_request_withdraw(
            request_id=found.pk, note=serializer.validated_data["note"], actor=Actor.for_partner(partner)
        )
        return Response(CancellationRequestOutputSerializer(_get_or_404(partner, found.pk)).data)
