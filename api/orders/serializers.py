"""Serializers shared by the order API views: the order as partners see it, and input building blocks.

Each view keeps its own request serializer (nested in the view); the order
response is the same everywhere, so it lives here once.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fulfillment.serializers import ShipmentOutputSerializer, SlaOutputSerializer
from core.api.fields import MinorUnitsField
from core.privacy import masked_buyer, masked_shipping_address
from fulfillment.sla import order_sla_clocks
from orders.models import MARKETPLACE_STATUS, CancelledBy, Order, OrderLine, OrderStatus
from payments.selectors import order_checkout, prefetch_order_checkout

# --- the order response ----------------------------------------------------------------


class ReservationOutputSerializer(serializers.Serializer):
    quantity = serializers.IntegerField()
    released_at = serializers.DateTimeField(allow_null=True, help_text="Set when the stock went back (cancellation).")
    consumed_at = serializers.DateTimeField(allow_null=True, help_text="Set when the parcel left the warehouse.")


class OrderLineOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField(source="sku_code", help_text="The SKU exactly as sent.")
    quantity = serializers.IntegerField()
    unit_price = MinorUnitsField()
    reserved = serializers.SerializerMethodField(
        help_text="Units held for this line right now; 0 for an unknown SKU or once the reservation ended."
    )
    reservation = serializers.SerializerMethodField()

    def get_reserved(self, line: OrderLine) -> int:
        reservation = getattr(line, "reservation", None)
        return reservation.quantity if reservation is not None and reservation.is_active else 0

    @extend_schema_field(ReservationOutputSerializer(allow_null=True))
    def get_reservation(self, line: OrderLine):
        reservation = getattr(line, "reservation", None)
        return ReservationOutputSerializer(reservation).data if reservation is not None else None


class MaskedBuyerOutputSerializer(serializers.Serializer):
    name = serializers.CharField(help_text='Masked, e.g. "J*** D***".')
    phone = serializers.CharField(help_text='Masked, e.g. "***-***-1234".')
    email = serializers.CharField(help_text='Masked, e.g. "j***@example.com".')


class MaskedAddressOutputSerializer(serializers.Serializer):
    city = serializers.CharField()
    region = serializers.CharField()


class CheckoutOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["unpaid", "processing", "requires_action", "paid", "refunded"],
        help_text="The seller's wholesale payment for this order (R4): `requires_action` means the seller's bank "
        "wants them to confirm; `refunded` means it was given back (e.g. the order was cancelled, R7).",
    )
    paid_at = serializers.DateTimeField(allow_null=True)
    payment_id = serializers.IntegerField(allow_null=True, help_text="Our id of the payment that covers the order.")


class OrderListOutputSerializer(serializers.ListSerializer):
    """Loads every order's checkout facts in one query, so a page of orders costs what one order does."""

    def to_representation(self, data):
        orders = list(data.all() if hasattr(data, "all") else data)
        prefetch_order_checkout(orders)
        return super().to_representation(orders)


class OrderOutputSerializer(serializers.Serializer):
    """An order as a partner sees it. Buyer details are masked (R12): partners never get them back in full."""

    id = serializers.IntegerField()
    external_id = serializers.CharField()
    seller = serializers.CharField(source="seller.code")
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    marketplace_status = serializers.ChoiceField(
        choices=sorted({s for s in MARKETPLACE_STATUS.values() if s}),
        allow_null=True,
        help_text="The TikTok Shop order status this status maps to; null for `lost`.",
    )
    placed_at = serializers.DateTimeField()
    buyer_paid_at = serializers.DateTimeField(allow_null=True)
    payment_due_at = serializers.DateTimeField(allow_null=True, help_text="Unpaid orders cancel at this time.")
    hold_until = serializers.DateTimeField(
        allow_null=True, help_text="The buyer's free cancellation ends at this time."
    )
    seller_paid_at = serializers.DateTimeField(allow_null=True)
    stock_exception = serializers.BooleanField(help_text="Some line has an unknown SKU or is not fully reserved.")
    cancelled_at = serializers.DateTimeField(allow_null=True)
    cancelled_by = serializers.ChoiceField(choices=CancelledBy.choices, allow_blank=True)
    cancel_reason = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    lines = OrderLineOutputSerializer(many=True, source="lines.all")
    buyer = serializers.SerializerMethodField()
    shipping_address = serializers.SerializerMethodField()
    shipments = serializers.SerializerMethodField(
        help_text="The order's parcel: empty until picking starts, then one item (orders ship in one parcel)."
    )
    sla = serializers.SerializerMethodField(help_text="Processing deadlines and their state now (R8).")
    checkout = serializers.SerializerMethodField(help_text="The seller's wholesale payment (checkout) for this order.")

    class Meta:
        list_serializer_class = OrderListOutputSerializer

    @extend_schema_field(CheckoutOutputSerializer)
    def get_checkout(self, order: Order) -> dict:
        return CheckoutOutputSerializer(order_checkout(order)).data

    @extend_schema_field(ShipmentOutputSerializer(many=True))
    def get_shipments(self, order: Order) -> list:
        shipment = getattr(order, "shipment", None)  # RelatedObjectDoesNotExist is an AttributeError
        return [ShipmentOutputSerializer(shipment).data] if shipment is not None else []

    @extend_schema_field(SlaOutputSerializer)
    def get_sla(self, order: Order) -> dict:
        return SlaOutputSerializer(order_sla_clocks(order)).data

    @extend_schema_field(MaskedBuyerOutputSerializer)
    def get_buyer(self, order: Order) -> dict:
        return masked_buyer(order)

    @extend_schema_field(MaskedAddressOutputSerializer)
    def get_shipping_address(self, order: Order) -> dict:
        return masked_shipping_address(order)
