"""Stock: SKUs, on-hand and reserved quantities, and one reservation per order line."""

from django.db import models
from django.db.models import F, Q

from backoffice.models import Seller


class SKU(models.Model):
    """A product a seller stocks with us. ``wholesale_cost`` is in minor units (cents)."""

    seller = models.ForeignKey(Seller, on_delete=models.PROTECT, related_name="skus")
    code = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    wholesale_cost = models.PositiveIntegerField(help_text="Wholesale cost in minor units (e.g. cents).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SKU"
        ordering = ["seller__code", "code"]
        constraints = [models.UniqueConstraint(fields=["seller", "code"], name="sku_code_unique_per_seller")]

    def __str__(self):
        return f"{self.seller.code}/{self.code}"


class Stock(models.Model):
    """Quantities for one SKU. The database, not Python, keeps them consistent."""

    sku = models.OneToOneField(SKU, on_delete=models.CASCADE, related_name="stock")
    on_hand = models.PositiveIntegerField(default=0)
    reserved = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "stock"
        constraints = [
            models.CheckConstraint(condition=Q(reserved__gte=0), name="stock_reserved_not_negative"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_not_negative"),
            models.CheckConstraint(condition=Q(reserved__lte=F("on_hand")), name="stock_reserved_within_on_hand"),
        ]

    def __str__(self):
        return f"{self.sku}: {self.on_hand} on hand, {self.reserved} reserved"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Reservation(models.Model):
    """Stock held for one order line. ``quantity`` may be less than the line asks (R1).

    Released on cancellation (R7); consumed when the parcel leaves the warehouse.
    """

    line = models.OneToOneField("orders.OrderLine", on_delete=models.CASCADE, related_name="reservation")
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="reservations")
    quantity = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(released_at__isnull=True) | Q(consumed_at__isnull=True),
                name="reservation_released_or_consumed_not_both",
            )
        ]

    def __str__(self):
        return f"{self.quantity} × {self.sku}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None and self.consumed_at is None
