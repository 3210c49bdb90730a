"""Serializers of the stock and carrier API, and the shipment and SLA parts of the order response."""

from rest_framework import serializers

from fulfillment.models import SKU, CarrierHandover, Handover, ShipmentStatus
from fulfillment.sla import SlaState


class StockOutputSerializer(serializers.Serializer):
    """One SKU's stock as a marketplace inventory sync needs it."""

    seller = serializers.CharField(source="seller.code")
    sku = serializers.CharField(source="code")
    name = serializers.CharField()
    on_hand = serializers.SerializerMethodField(help_text="Units in the warehouse.")
    reserved = serializers.SerializerMethodField(help_text="Units held for open orders.")
    available = serializers.SerializerMethodField(help_text="on_hand - reserved: what may still be sold.")

    @staticmethod
    def _stock(sku: SKU):
        return getattr(sku, "stock", None)

    def get_on_hand(self, sku: SKU) -> int:
        stock = self._stock(sku)
        return stock.on_hand if stock else 0

    def get_reserved(self, sku: SKU) -> int:
        stock = self._stock(sku)
        return stock.reserved if stock else 0

    def get_available(self, sku: SKU) -> int:
        stock = self._stock(sku)
        return stock.available if stock else 0


class CarrierOutputSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Send this as the carrier code, e.g. `ups`.")
    name = serializers.CharField()
    tracking_pattern = serializers.CharField(
        help_text="Regular expression the whole tracking number matches (spaces removed, upper-cased)."
    )
    tracking_example = serializers.CharField(
        allow_blank=True, help_text="The format in words with an example, e.g. `1Z followed by 16 letters or digits`."
    )
    tracking_url = serializers.CharField(
        allow_blank=True, help_text="Public tracking page with `{tracking_number}` as the placeholder; may be empty."
    )
    handover = serializers.ChoiceField(
        choices=CarrierHandover.choices, help_text="Whether the carrier collects (pickup), takes drop-offs, or both."
    )


class ShipmentOutputSerializer(serializers.Serializer):
    """The order's parcel. Orders ship in one parcel, so an order has zero or one of these."""

    carrier = serializers.CharField(source="carrier.code", allow_null=True, default=None, help_text="Carrier code.")
    carrier_name = serializers.CharField(source="carrier.name", allow_null=True, default=None)
    tracking_number = serializers.CharField(allow_blank=True)
    tracking_url = serializers.CharField(source="tracking_link", allow_blank=True)
    status = serializers.ChoiceField(choices=ShipmentStatus.choices)
    handover_method = serializers.ChoiceField(choices=Handover.choices, allow_blank=True)
    labelled_at = serializers.DateTimeField(allow_null=True)
    collect_by = serializers.DateTimeField(allow_null=True, help_text="The carrier must have the parcel by then.")
    picked_up_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    failed_attempts = serializers.IntegerField(help_text="Failed delivery attempts so far.")


class SlaClockOutputSerializer(serializers.Serializer):
    deadline = serializers.DateTimeField(
        allow_null=True, help_text="Null until the clock starts (collection: at labelling)."
    )
    state = serializers.ChoiceField(
        choices=[s.value for s in SlaState],
        help_text=(
            "`ok`; `at_risk` within the at-risk lead before the deadline; `late` past it; `met` / `met_late` "
            "done in time / after it; `not_started`; `stopped` when the order was cancelled or lost first."
        ),
    )


class SlaOutputSerializer(serializers.Serializer):
    """Processing deadlines (R8)."""

    ship_by = SlaClockOutputSerializer(help_text="Labelled (ready to ship) by.")
    tracking_due = SlaClockOutputSerializer(help_text="Tracking number given by.")
    collect_by = SlaClockOutputSerializer(help_text="Collected by or dropped at the carrier by.")
    deliver_by = SlaClockOutputSerializer(help_text="Delivered by.")
