"""Reverse flows: a buyer's cancellation request after the hold (R5), and returns (R11).

Both are requests the seller answers within a window, or the marketplace answers
for them: ``respond_by`` is an indexed deadline that ``process_due_timers()``
acts on (auto-approval). Transitions here are pure; the services in
``returns.services`` lock, audit and send notifications.
"""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from accounts.models import Seller
from core.display import words_for
from core.models import AuditEvent


class RequestedBy(models.TextChoices):
    BUYER = "buyer", "Buyer (through the marketplace)"
    STAFF = "staff", "Our staff"
    SELLER = "seller", "Seller"


# --- cancellation requests (R5) ------------------------------------------------------


class CancellationStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the seller"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    AUTO_APPROVED = "auto_approved", "Approved automatically"
    WITHDRAWN = "withdrawn", "Withdrawn by the buyer"


# What a partner sees: TikTok Shop's cancellation vocabulary. A request is
# COMPLETE once the order is cancelled (and its refund, if any, is under way).
CANCELLATION_TIKTOK_STATUS = {
    CancellationStatus.PENDING: "CANCELLATION_REQUEST_PENDING",
    CancellationStatus.APPROVED: "CANCELLATION_REQUEST_COMPLETE",
    CancellationStatus.AUTO_APPROVED: "CANCELLATION_REQUEST_COMPLETE",
    CancellationStatus.REJECTED: "CANCELLATION_REQUEST_CANCELLED",
    CancellationStatus.WITHDRAWN: "CANCELLATION_REQUEST_CANCELLED",
}


def _respond_by_passed(obj) -> bool:
    return obj.respond_by is not None and obj.respond_by <= timezone.now()


class CancellationRequest(ConcurrentTransitionMixin, models.Model):
    """A buyer's wish to cancel an order after its hold ended (R5).

    At most one request per order is pending at a time (a database constraint),
    so a repeated request finds the pending one instead of making a second.
    """

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="cancellation_requests")
    seller = models.ForeignKey(Seller, on_delete=models.PROTECT, related_name="cancellation_requests")
    external_id = models.CharField(
        max_length=100, blank=True, help_text="The marketplace's id for this request, if the partner sent one."
    )
    status = FSMField(
        max_length=16, choices=CancellationStatus.choices, default=CancellationStatus.PENDING, protected=True
    )
    requested_by = models.CharField(max_length=8, choices=RequestedBy.choices, default=RequestedBy.BUYER)
    reason = models.CharField(max_length=500, blank=True, help_text="The buyer's reason.")
    requested_at = models.DateTimeField(default=timezone.now)
    respond_by = models.DateTimeField(help_text="Approved automatically at this time unless answered.")
    marketplace_decides = models.BooleanField(
        default=False,
        help_text="The marketplace approves it at respond_by if nobody answers (TikTok): our timer does not, it "
        "warns the seller instead (R16).",
    )
    warn_at = models.DateTimeField(
        null=True, blank=True, help_text="When the seller is reminded that the marketplace's deadline is near."
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(
        max_length=250, blank=True, help_text="Who answered: partner, staff, seller or system, and their name."
    )
    decision_note = models.CharField(max_length=500, blank=True, help_text="Why it was rejected, or a note.")
    timer_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order"], condition=Q(status="pending"), name="cancellation_request_one_pending_per_order"
            ),
            models.UniqueConstraint(
                fields=["order", "external_id"],
                condition=~Q(external_id=""),
                name="cancellation_request_external_id_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["respond_by", "id"], name="cancel_req_respond_by_idx", condition=Q(status="pending")),
            models.Index(fields=["warn_at", "id"], name="cancel_req_warn_idx", condition=Q(status="pending")),
            models.Index(fields=["seller", "status"], name="cancel_req_seller_status_idx"),
            # The partner API lists requests most recently changed first (keyset pages on these two).
            models.Index(fields=["-updated_at", "-id"], name="cancel_req_updated_idx"),
        ]
        permissions = [("decide_cancellationrequest", "Can approve or reject cancellation requests for sellers")]

    def __str__(self):
        return f"Cancellation request #{self.pk} for order {self.order_id}"

    @property
    def marketplace_status(self) -> str:
        return CANCELLATION_TIKTOK_STATUS[self.status]

    @property
    def reason_label(self) -> str:
        """The buyer's reason in words, should a marketplace send a code (``changed_mind``)."""
        return words_for(self.reason, RETURN_REASON_LABELS)

    @property
    def decided_by_label(self) -> str:
        """Who answered, in words: "Seller", "Staff", "Automatic"; never a username or code."""
        return {"seller": "Seller", "staff": "Our staff", "system": "Automatic", "partner": "Marketplace"}.get(
            self.decided_by.partition(":")[0], ""
        )

    @transition(field=status, source=CancellationStatus.PENDING, target=CancellationStatus.APPROVED)
    def approve(self, *, by: str, note: str = ""):
        self._decide(by, note)

    @transition(
        field=status,
        source=CancellationStatus.PENDING,
        target=CancellationStatus.AUTO_APPROVED,
        conditions=[_respond_by_passed],
    )
    def auto_approve(self):
        self._decide("system:timer", "Not answered in time; approved automatically.")

    @transition(field=status, source=CancellationStatus.PENDING, target=CancellationStatus.REJECTED)
    def reject(self, *, by: str, note: str):
        self._decide(by, note)

    @transition(field=status, source=CancellationStatus.PENDING, target=CancellationStatus.WITHDRAWN)
    def withdraw(self, *, by: str, note: str = ""):
        self._decide(by, note)

    def _decide(self, by: str, note: str):
        self.decided_at = timezone.now()
        self.decided_by = by[:250]
        self.decision_note = note[:500]


class CancellationRequestEvent(AuditEvent):
    """The request's history: one row per transition (requested, approved, rejected, withdrawn)."""

    request = models.ForeignKey(CancellationRequest, on_delete=models.CASCADE, related_name="events")


# --- returns (R11) ---------------------------------------------------------------


class ReturnType(models.TextChoices):
    REFUND_ONLY = "refund_only", "Refund only (nothing is sent back)"
    RETURN_AND_REFUND = "return_and_refund", "Return and refund"
    REPLACEMENT = "replacement", "Replacement"


# The reasons marketplaces send for a return, in the words the seller and staff read. Partners may send
# any text; a code not listed here is still shown as words (``core.display.words_for``).
RETURN_REASON_LABELS = {
    "damaged": "Arrived damaged",
    "defective": "Does not work",
    "wrong_item": "Wrong item sent",
    "wrong_size": "Wrong size",
    "not_as_described": "Not as described",
    "missing_parts": "Parts missing",
    "no_longer_needed": "No longer needed",
    "changed_mind": "Changed their mind",
    "arrived_late": "Arrived too late",
    "other": "Other reason",
}


class ReturnStatus(models.TextChoices):
    REQUESTED = "requested", "Waiting for the seller"
    APPROVED = "approved", "Approved"
    AUTO_APPROVED = "auto_approved", "Approved automatically"
    REJECTED = "rejected", "Rejected"
    AWAITING_RETURN_SHIPMENT = "awaiting_return_shipment", "Waiting for the buyer to send it back"
    IN_TRANSIT = "in_transit", "On its way back"
    RECEIVED = "received", "Received"
    INSPECTED = "inspected", "Inspected"
    REFUNDED = "refunded", "Refunded"
    REPLACED = "replaced", "Replaced"
    REJECTED_AFTER_INSPECTION = "rejected_after_inspection", "Rejected after inspection"
    CLOSED = "closed", "Closed"


# Still needs someone: the order must not complete (R15) while one of these is open.
RETURN_OPEN = [
    ReturnStatus.REQUESTED,
    ReturnStatus.APPROVED,
    ReturnStatus.AUTO_APPROVED,
    ReturnStatus.AWAITING_RETURN_SHIPMENT,
    ReturnStatus.IN_TRANSIT,
    ReturnStatus.RECEIVED,
    ReturnStatus.INSPECTED,
]

# TikTok Shop's ``return_status`` vocabulary, for partners.
RETURN_TIKTOK_STATUS = {
    ReturnStatus.REQUESTED: "RETURN_OR_REFUND_REQUEST_PENDING",
    ReturnStatus.APPROVED: "RETURN_OR_REFUND_REQUEST_SUCCESS",
    ReturnStatus.AUTO_APPROVED: "RETURN_OR_REFUND_REQUEST_SUCCESS",
    ReturnStatus.REJECTED: "RETURN_OR_REFUND_REQUEST_REJECT",
    ReturnStatus.AWAITING_RETURN_SHIPMENT: "AWAITING_BUYER_SHIP",
    ReturnStatus.IN_TRANSIT: "BUYER_SHIPPED_ITEM",
    ReturnStatus.RECEIVED: "RECEIVE_REJECTED_PENDING",
    ReturnStatus.INSPECTED: "RECEIVE_REJECTED_PENDING",
    ReturnStatus.REFUNDED: "RETURN_OR_REFUND_REQUEST_COMPLETE",
    ReturnStatus.REPLACED: "REPLACEMENT_REQUEST_COMPLETE",
    ReturnStatus.REJECTED_AFTER_INSPECTION: "REJECT_RECEIVE_PACKAGE",
    ReturnStatus.CLOSED: "RETURN_OR_REFUND_REQUEST_COMPLETE",
}


def _ships_back(ret) -> bool:
    return ret.ships_back


def _is_replacement(ret) -> bool:
    return ret.type == ReturnType.REPLACEMENT


def _refund_decidable(ret) -> bool:
    """``refund_only`` is refunded once approved; ``return_and_refund`` once inspected; a replacement never."""
    if ret.type == ReturnType.REFUND_ONLY:
        return ret.status in (ReturnStatus.APPROVED, ReturnStatus.AUTO_APPROVED)
    return ret.type == ReturnType.RETURN_AND_REFUND and ret.status == ReturnStatus.INSPECTED


class ReturnRequest(ConcurrentTransitionMixin, models.Model):
    """A buyer's return (R11): request, approval, the parcel back, inspection, then the outcome.

    Lines say which order lines and how many units, so a return can cover part
    of an order. The paths, by type:

    - ``return_and_refund``: requested → approved | auto_approved →
      awaiting_return_shipment → in_transit → received → inspected →
      refunded | rejected_after_inspection → closed.
    - ``replacement``: the same, ending in replaced (a new order ships the
      received units again) or rejected_after_inspection → closed.
    - ``refund_only``: nothing is sent back, so there is no parcel to receive or
      inspect: approved | auto_approved → refunded (Finance decides the amount,
      possibly 0) → closed.

    Any type may be rejected while requested. A return whose buyer never ships
    the parcel back may be closed from awaiting_return_shipment, which leaves it
    unresolved (``resolved_at`` empty): its units count as not returned.
    Parcels may arrive without the partner having reported them sent, so
    ``receive`` also starts from awaiting_return_shipment.
    """

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="returns")
    seller = models.ForeignKey(Seller, on_delete=models.PROTECT, related_name="returns")
    external_id = models.CharField(
        max_length=100, blank=True, help_text="The marketplace's id for this return, if the partner sent one."
    )
    type = models.CharField(max_length=20, choices=ReturnType.choices)
    status = FSMField(max_length=32, choices=ReturnStatus.choices, default=ReturnStatus.REQUESTED, protected=True)
    requested_by = models.CharField(max_length=8, choices=RequestedBy.choices, default=RequestedBy.BUYER)
    reason = models.CharField(max_length=100, help_text="Why the buyer returns it, e.g. damaged, wrong_item.")
    buyer_note = models.CharField(max_length=1000, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    respond_by = models.DateTimeField(help_text="Approved automatically at this time unless answered.")
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=250, blank=True)
    decision_note = models.CharField(max_length=500, blank=True)

    return_carrier = models.ForeignKey(
        "fulfillment.Carrier", on_delete=models.PROTECT, null=True, blank=True, related_name="returns"
    )
    return_tracking_number = models.CharField(max_length=64, blank=True)
    shipped_back_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    inspected_at = models.DateTimeField(null=True, blank=True)
    inspection_note = models.CharField(max_length=1000, blank=True)

    refund_amount = models.PositiveIntegerField(
        null=True, blank=True, help_text="Wholesale cost refunded to the seller, in minor units (Finance decides)."
    )
    refund = models.ForeignKey(
        "payments.Refund", on_delete=models.PROTECT, null=True, blank=True, related_name="returns"
    )
    replacement_order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="replaces_return"
    )
    resolved_at = models.DateTimeField(null=True, blank=True, help_text="Refunded, replaced or rejected.")
    resolution_note = models.CharField(
        max_length=500, blank=True, help_text="Why it was refunded this way, rejected after inspection, or closed."
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    timer_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "external_id"], condition=~Q(external_id=""), name="return_external_id_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["respond_by", "id"], name="return_respond_by_idx", condition=Q(status="requested")),
            models.Index(fields=["seller", "status"], name="return_seller_status_idx"),
            models.Index(fields=["status"], name="return_status_idx"),
            # The partner API lists returns most recently changed first.
            models.Index(fields=["-updated_at", "-id"], name="return_updated_idx"),
        ]
        permissions = [
            ("decide_returnrequest", "Can approve or reject returns for sellers"),
            ("receive_returnrequest", "Can receive and inspect returned parcels"),
            ("refund_returnrequest", "Can decide the seller's refund for a return"),
        ]

    def __str__(self):
        return f"Return #{self.pk} for order {self.order_id}"

    @property
    def marketplace_status(self) -> str:
        return RETURN_TIKTOK_STATUS[self.status]

    @property
    def reason_label(self) -> str:
        """The buyer's reason in words, never the marketplace's code (``wrong_item`` → "Wrong item sent")."""
        return words_for(self.reason, RETURN_REASON_LABELS)

    @property
    def is_open(self) -> bool:
        return self.status in RETURN_OPEN

    @property
    def ships_back(self) -> bool:
        """The buyer sends a parcel back (every type but ``refund_only``)."""
        return self.type != ReturnType.REFUND_ONLY

    # --- transitions (pure: the services in ``returns.services.returns`` lock, save and audit) ---

    @transition(field=status, source=ReturnStatus.REQUESTED, target=ReturnStatus.APPROVED)
    def approve(self, *, by: str, note: str = ""):
        """The seller (or staff for the seller) accepts the return."""
        self._decide(by, note)

    @transition(
        field=status, source=ReturnStatus.REQUESTED, target=ReturnStatus.AUTO_APPROVED, conditions=[_respond_by_passed]
    )
    def auto_approve(self):
        """Nobody answered by ``respond_by``: the marketplace accepts it (R11)."""
        self._decide("system:timer", "Not answered in time; approved automatically.")

    @transition(field=status, source=ReturnStatus.REQUESTED, target=ReturnStatus.REJECTED)
    def reject(self, *, by: str, note: str):
        self._decide(by, note)
        self.resolved_at = self.decided_at

    @transition(
        field=status,
        source=[ReturnStatus.APPROVED, ReturnStatus.AUTO_APPROVED],
        target=ReturnStatus.AWAITING_RETURN_SHIPMENT,
        conditions=[_ships_back],
    )
    def await_shipment(self):
        """Accepted, and the buyer has a parcel to send back."""

    @transition(field=status, source=ReturnStatus.AWAITING_RETURN_SHIPMENT, target=ReturnStatus.IN_TRANSIT)
    def mark_in_transit(self, *, carrier, tracking_number: str, at):
        """The buyer shipped the parcel back with ``carrier`` and ``tracking_number``."""
        self.return_carrier = carrier
        self.return_tracking_number = tracking_number
        self.shipped_back_at = at

    @transition(
        field=status,
        source=[ReturnStatus.AWAITING_RETURN_SHIPMENT, ReturnStatus.IN_TRANSIT],
        target=ReturnStatus.RECEIVED,
        conditions=[_ships_back],
    )
    def receive(self, *, at):
        """The parcel reached the warehouse; the lines' received quantities are set with it."""
        self.received_at = at

    @transition(field=status, source=ReturnStatus.RECEIVED, target=ReturnStatus.INSPECTED)
    def inspect(self, *, at, note: str = ""):
        """Every received unit was found resellable or damaged (set on the lines)."""
        self.inspected_at = at
        self.inspection_note = note[:1000]

    @transition(
        field=status,
        source=[ReturnStatus.APPROVED, ReturnStatus.AUTO_APPROVED, ReturnStatus.INSPECTED],
        target=ReturnStatus.REFUNDED,
        conditions=[_refund_decidable],
    )
    def decide_refund(self, *, amount: int, refund=None, note: str = ""):
        """Finance decided the seller's refund: ``amount`` minor units, 0 meaning none (``refund`` is then None).

        (Named for the decision because ``refund`` is the field holding the payments refund.)"""
        self.refund_amount = amount
        self.refund = refund
        self._resolve(note)

    @transition(field=status, source=ReturnStatus.INSPECTED, target=ReturnStatus.REPLACED, conditions=[_is_replacement])
    def replace(self, *, order, note: str = ""):
        """A new order (``order``) ships the received units again, at no charge."""
        self.replacement_order = order
        self._resolve(note)

    @transition(field=status, source=ReturnStatus.INSPECTED, target=ReturnStatus.REJECTED_AFTER_INSPECTION)
    def reject_after_inspection(self, *, note: str):
        """What came back does not qualify (wrong item, used, missing parts)."""
        self._resolve(note)

    @transition(
        field=status,
        source=[
            ReturnStatus.REFUNDED,
            ReturnStatus.REPLACED,
            ReturnStatus.REJECTED_AFTER_INSPECTION,
            ReturnStatus.AWAITING_RETURN_SHIPMENT,
        ],
        target=ReturnStatus.CLOSED,
    )
    def close(self, *, note: str = ""):
        """Nothing is left to do. From awaiting_return_shipment: the buyer never sent the parcel."""
        self.closed_at = timezone.now()
        if note:
            self.resolution_note = note[:500]

    def _decide(self, by: str, note: str):
        self.decided_at = timezone.now()
        self.decided_by = by[:250]
        self.decision_note = note[:500]

    def _resolve(self, note: str):
        self.resolved_at = timezone.now()
        self.resolution_note = note[:500]


class ReturnLine(models.Model):
    """Units of one order line coming back, and what inspection found.

    ``resellable`` units go back into stock; ``damaged`` ones do not. Both are
    set at inspection and never exceed what was received.
    """

    return_request = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey("orders.OrderLine", on_delete=models.PROTECT, related_name="return_lines")
    quantity = models.PositiveIntegerField()
    received_quantity = models.PositiveIntegerField(null=True, blank=True)
    resellable_quantity = models.PositiveIntegerField(null=True, blank=True)
    damaged_quantity = models.PositiveIntegerField(null=True, blank=True)
    restocked_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["return_request", "order_line"], name="return_line_unique_per_order_line"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="return_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(received_quantity__isnull=True) | Q(received_quantity__lte=F("quantity")),
                name="return_line_received_within_quantity",
            ),
            models.CheckConstraint(
                condition=Q(resellable_quantity__isnull=True, damaged_quantity__isnull=True)
                | Q(
                    received_quantity__isnull=False,
                    resellable_quantity__isnull=False,
                    damaged_quantity__isnull=False,
                    resellable_quantity__lte=F("received_quantity") - F("damaged_quantity"),
                ),
                name="return_line_inspected_within_received",
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.order_line.sku_code}"


class ReturnEvent(AuditEvent):
    """The return's history: one row per transition or audited step (received, inspected, refund decided)."""

    return_request = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="events")
