"""Stock (SKUs, on-hand and reserved quantities, one reservation per order line), carriers and shipments."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from accounts.models import Seller
from core.display import local_time
from core.models import AuditEvent


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


# --- carriers and shipments (DOMAIN.md R8-R10) -------------------------------------


def validate_regex(value: str) -> None:
    """A tracking pattern must compile, or every label for the carrier would fail later."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(f"Not a valid regular expression: {exc}.", code="invalid_regex") from None


class Handover(models.TextChoices):
    """How a parcel reaches the carrier: the carrier collects it, or we drop it at the carrier."""

    PICKUP = "pickup", "Pickup (the carrier collects)"
    DROPOFF = "dropoff", "Drop-off (we take it to the carrier)"


class CarrierHandover(models.TextChoices):
    PICKUP = "pickup", "Pickup"
    DROPOFF = "dropoff", "Drop-off"
    BOTH = "both", "Pickup or drop-off"


class Carrier(models.Model):
    """A carrier we ship with; staff keep the list (R10). Only active carriers can label parcels."""

    code = models.CharField(
        max_length=32,
        unique=True,
        validators=[RegexValidator(r"^[a-z0-9][a-z0-9_-]{0,31}$", "Use lower-case letters, digits, '-' or '_'.")],
        help_text="Stable identifier partners see, e.g. ups.",
    )
    name = models.CharField(max_length=100)
    tracking_pattern = models.CharField(
        max_length=500,
        validators=[validate_regex],
        help_text="The rule a whole tracking number is checked against (spaces removed, upper case). "
        "People are shown the description below instead.",
    )
    tracking_example = models.CharField(
        "tracking number format",
        max_length=200,
        blank=True,
        help_text="What a tracking number looks like, in words with an example, e.g. “1Z followed by 16 letters "
        "or digits, such as 1Z999AA10123456784”. Shown to staff and partners when a number is refused.",
    )
    tracking_url = models.CharField(
        max_length=300,
        blank=True,
        help_text="Public tracking page; {tracking_number} is replaced, e.g. https://www.ups.com/track?tracknum={tracking_number}",
    )
    handover = models.CharField(max_length=8, choices=CarrierHandover.choices, default=CarrierHandover.BOTH)
    assigns_tracking = models.BooleanField(
        default=False,
        help_text="A marketplace's own logistics (TikTok Shipping): the marketplace gives the tracking number "
        "when it ships the parcel, so staff label without one. Only marketplace orders can use it.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @staticmethod
    def normalize_tracking_number(value: str) -> str:
        """Tracking numbers are read off labels with spaces and in any case; store them one way."""
        return re.sub(r"[\s-]+", "", value or "").upper()

    def tracking_number_matches(self, tracking_number: str) -> bool:
        return re.fullmatch(self.tracking_pattern, tracking_number) is not None

    def offers(self, method: str) -> bool:
        return self.handover == CarrierHandover.BOTH or self.handover == method

    def tracking_link(self, tracking_number: str) -> str:
        return self.tracking_url.replace("{tracking_number}", tracking_number) if self.tracking_url else ""


class ShipmentStatus(models.TextChoices):
    PICKING = "picking", "Picking"
    PACKED = "packed", "Packed"
    LABELLED = "labelled", "Labelled (awaiting collection)"
    IN_TRANSIT = "in_transit", "In transit"
    DELIVERY_FAILED = "delivery_failed", "Delivery attempt failed"
    DELIVERED = "delivered", "Delivered"
    LOST = "lost", "Lost"
    CANCELLED = "cancelled", "Cancelled (put stock back)"


# The parcel is with us or the carrier and has no final outcome yet: the lost timer watches these.
SHIPMENT_OUT = [ShipmentStatus.LABELLED, ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERY_FAILED]


def _lost_deadline_passed(shipment) -> bool:
    return shipment.lost_deadline is not None and shipment.lost_deadline <= timezone.now()


class Shipment(ConcurrentTransitionMixin, models.Model):
    """The one parcel of an order, from picking to delivery (or loss).

    The order's status follows it: picking/packed = ``in_fulfillment``,
    labelled = ``shipped``, in transit or a failed attempt = ``in_transit``,
    delivered = ``delivered``, lost = ``lost``. Split shipments are not
    supported: every order leaves in exactly one parcel (the one-to-one
    relation and the marketplace's single tracking number per order).
    """

    order = models.OneToOneField("orders.Order", on_delete=models.CASCADE, related_name="shipment")
    status = FSMField(max_length=20, choices=ShipmentStatus.choices, default=ShipmentStatus.PICKING, protected=True)
    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, null=True, blank=True, related_name="shipments")
    tracking_number = models.CharField(max_length=64, blank=True)
    handover_method = models.CharField(max_length=8, choices=Handover.choices, blank=True)

    picking_started_at = models.DateTimeField(default=timezone.now)
    packed_at = models.DateTimeField(null=True, blank=True)
    labelled_at = models.DateTimeField(null=True, blank=True)
    collect_by = models.DateTimeField(null=True, blank=True, help_text="The carrier must have it by this time.")
    collect_alerted_at = models.DateTimeField(null=True, blank=True, editable=False)
    picked_up_at = models.DateTimeField(null=True, blank=True, help_text="Handed over to or collected by the carrier.")
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    lost_deadline = models.DateTimeField(
        null=True, blank=True, help_text="Declared lost at this time unless delivered."
    )
    lost_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(
        null=True, blank=True, help_text="Time of the latest carrier event; earlier ones are out of order."
    )
    label_requested = models.JSONField(
        null=True,
        blank=True,
        help_text="The label (carrier, tracking number, handover) sent to the marketplace and waiting for its "
        "confirmation: the parcel stays packed until then (R17).",
    )
    marketplace_note = models.CharField(
        max_length=500,
        blank=True,
        help_text="Why the marketplace has not confirmed the label yet, or why it refused it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One tracking number is one parcel: a second order with it is a copy-paste mistake.
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"],
                condition=~Q(tracking_number=""),
                name="shipment_tracking_unique_per_carrier",
            ),
            # A parcel past packing always has its carrier, tracking number and label time.
            models.CheckConstraint(
                condition=Q(status__in=[ShipmentStatus.PICKING, ShipmentStatus.PACKED, ShipmentStatus.CANCELLED])
                | (
                    Q(carrier__isnull=False, labelled_at__isnull=False)
                    & ~Q(tracking_number="")
                    & ~Q(handover_method="")
                ),
                name="shipment_labelled_has_tracking",
            ),
        ]
        indexes = [
            models.Index(
                fields=["lost_deadline", "id"], name="shipment_lost_idx", condition=Q(status__in=SHIPMENT_OUT)
            ),
            models.Index(
                fields=["collect_by", "id"],
                name="shipment_collect_alert_idx",
                condition=Q(status=ShipmentStatus.LABELLED, collect_alerted_at__isnull=True),
            ),
            models.Index(fields=["status"], name="shipment_status_idx"),
        ]
        permissions = [
            ("work_shipment", "Can pick, pack, label, hand over and correct tracking"),
            ("record_carrier_event", "Can enter carrier events (picked up, in transit, failed attempt, delivered)"),
        ]

    def __str__(self):
        return f"{self.carrier or 'unlabelled'} {self.tracking_number}".strip()

    @property
    def tracking_link(self) -> str:
        return self.carrier.tracking_link(self.tracking_number) if self.carrier and self.tracking_number else ""

    # --- transitions (pure: set fields, no I/O) ----------------------------------------

    @transition(field=status, source=ShipmentStatus.PICKING, target=ShipmentStatus.PACKED)
    def pack(self):
        self.packed_at = timezone.now()

    @transition(field=status, source=ShipmentStatus.PACKED, target=ShipmentStatus.LABELLED)
    def label(self, *, carrier: Carrier, tracking_number: str, handover_method: str, at, collect_by):
        """Carrier, tracking and handover fixed at ``at``; the collection clock (R8, ``fulfillment.sla``)
        runs to ``collect_by`` and the lost clock (R9) starts."""
        self.carrier = carrier
        self.tracking_number = tracking_number
        self.handover_method = handover_method
        self.labelled_at = at
        self.collect_by = collect_by
        self.lost_deadline = at + settings.LOST_AFTER

    @transition(field=status, source=ShipmentStatus.LABELLED, target=ShipmentStatus.IN_TRANSIT)
    def hand_over(self, *, at):
        """The carrier has it: collected at our door, dropped at its counter, or first scanned."""
        self.picked_up_at = at

    @transition(field=status, source=ShipmentStatus.DELIVERY_FAILED, target=ShipmentStatus.IN_TRANSIT)
    def resume_transit(self, *, at):
        """Back on its way after a failed attempt (a redelivery is scheduled)."""
        self.last_event_at = at

    @transition(
        field=status,
        source=[ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERY_FAILED],
        target=ShipmentStatus.DELIVERY_FAILED,
    )
    def fail_delivery(self, *, at):
        """A delivery attempt failed. At the attempts limit (R9) the lost timer is due at once."""
        self.failed_attempts += 1
        self.last_event_at = at
        if self.failed_attempts >= settings.LOST_AFTER_FAILED_ATTEMPTS:
            self.lost_deadline = min(filter(None, [self.lost_deadline, at]))

    @transition(
        field=status,
        source=[ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERY_FAILED],
        target=ShipmentStatus.DELIVERED,
    )
    def deliver(self, *, at):
        self.delivered_at = at
        self.last_event_at = at

    @transition(field=status, source=SHIPMENT_OUT, target=ShipmentStatus.LOST, conditions=[_lost_deadline_passed])
    def mark_lost(self):
        self.lost_at = timezone.now()

    @transition(field=status, source=[ShipmentStatus.PICKING, ShipmentStatus.PACKED], target=ShipmentStatus.CANCELLED)
    def cancel(self):
        """The order was cancelled before labelling: the picked items go back on the shelf."""


class ShipmentEventType(models.TextChoices):
    # Our own steps.
    PICKING_STARTED = "picking_started", "Picking started"
    PACKED = "packed", "Packed"
    LABELLED = "labelled", "Labelled"
    TRACKING_UPDATED = "tracking_updated", "Tracking corrected"
    LABEL_REQUESTED = "label_requested", "Label sent to TikTok"
    LABEL_REFUSED = "label_refused", "TikTok refused the label"
    HANDED_OVER = "handed_over", "Handed over to the carrier"
    LOST = "lost", "Declared lost"
    CANCELLED = "cancelled", "Cancelled"
    # The carrier's events (R10), from the partner API or entered by staff.
    PICKED_UP = "picked_up", "Picked up by the carrier"
    IN_TRANSIT = "in_transit", "In transit"
    DELIVERY_FAILED = "delivery_failed", "Delivery attempt failed"
    DELIVERED = "delivered", "Delivered"


CARRIER_EVENT_TYPES = [
    ShipmentEventType.PICKED_UP,
    ShipmentEventType.IN_TRANSIT,
    ShipmentEventType.DELIVERY_FAILED,
    ShipmentEventType.DELIVERED,
]


class ShipmentEvent(AuditEvent):
    """The shipment's history: each of our steps and each carrier event (``action``), with who reported it.

    ``at`` is when it happened (the carrier's time for carrier events);
    ``created_at`` is when we recorded it. A carrier event is unique by
    (action, at): the same event sent twice is the same row.
    """

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=20, choices=ShipmentEventType.choices)
    at = models.DateTimeField()

    class Meta(AuditEvent.Meta):
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "action", "at"],
                condition=Q(action__in=CARRIER_EVENT_TYPES),
                name="shipment_carrier_event_unique",
            )
        ]

    def __str__(self):
        return f"{self.get_action_display()} at {local_time(self.at)}"
