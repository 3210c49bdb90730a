"""Serializers of the stock API."""

from rest_framework import serializers

from fulfillment.models import SKU


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
