"""Orders, their lines, and the order lifecycle state machine (DOMAIN.md R1-R7).

Transition methods are pure: they check and set fields and do no I/O. The
services in ``orders.services`` lock the row, call them, save and audit.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from accounts.models import Partner, Seller
from core.models import AuditEvent


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "Pending payment"
    ON_HOLD = "on_hold", "On hold"
    AWAITING_CHECKOUT = "awaiting_checkout", "Awaiting checkout"
    READY_TO_FULFILL = "ready_to_fulfill", "Ready to fulfil"
    IN_FULFILLMENT = "in_fulfillment", "In fulfilment"
    SHIPPED = "shipped", "Shipped"
    IN_TRANSIT = "in_transit", "In transit"
    DELIVERED = "delivered", "Delivered"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    LOST = "lost", "Lost"


# DOMAIN.md "Order status vocabulary": our status → TikTok Shop order status.
MARKETPLACE_STATUS = {
    OrderStatus.PENDING_PAYMENT: "UNPAID",
    OrderStatus.ON_HOLD: "ON_HOLD",
    OrderStatus.AWAITING_CHECKOUT: "AWAITING_SHIPMENT",
    OrderStatus.READY_TO_FULFILL: "AWAITING_SHIPMENT",
    OrderStatus.IN_FULFILLMENT: "AWAITING_SHIPMENT",
    OrderStatus.SHIPPED: "AWAITING_COLLECTION",
    OrderStatus.IN_TRANSIT: "IN_TRANSIT",
    OrderStatus.DELIVERED: "DELIVERED",
    OrderStatus.COMPLETED: "COMPLETED",
    OrderStatus.CANCELLED: "CANCELLED",
    OrderStatus.LOST: None,
}

# Nothing has left the warehouse, so the seller may still cancel (R6).
NOT_SHIPPED = frozenset(
    {
        OrderStatus.PENDING_PAYMENT,
        OrderStatus.ON_HOLD,
        OrderStatus.AWAITING_CHECKOUT,
        OrderStatus.READY_TO_FULFILL,
        OrderStatus.IN_FULFILLMENT,
    }
)
# The buyer or the platform may cancel without approval (R3).
BEFORE_HOLD_ENDS = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.ON_HOLD})
# After the hold and before the label: an approved buyer's cancellation request can still cancel the order (R5).
CANCELLABLE_ON_REQUEST = NOT_SHIPPED - BEFORE_HOLD_ENDS


class CancelledBy(models.TextChoices):
    BUYER = "buyer", "Buyer"
    PLATFORM = "platform", "Platform"
    SELLER = "seller", "Seller"
    STAFF = "staff", "Staff"
    SYSTEM = "system", "System (unpaid timer)"


class OrderAction(models.TextChoices):
    """Everything the order's history records, with the words a seller or staff member reads.

    Transitions are recorded under their method's name, so a transition's
    member has the same value as the ``Order`` method it runs.
    """

    INTAKE = "intake", "Order received"
    MARK_BUYER_PAID = "mark_buyer_paid", "Buyer paid"
    BUYER_PAYMENT_FAILED = "buyer_payment_failed", "Buyer's payment failed"
    END_HOLD = "end_hold", "Hold ended"
    END_HOLD_EARLY = "end_hold_early", "Hold ended by the marketplace"
    CONFIRM_SELLER_PAYMENT = "confirm_seller_payment", "Wholesale payment confirmed"
    SELLER_PAYMENT_RECORDED = "seller_payment_recorded", "Wholesale payment recorded"
    CANCEL_UNPAID = "cancel_unpaid", "Cancelled: buyer did not pay in time"
    CANCEL_BY_BUYER = "cancel_by_buyer", "Cancelled by the buyer"
    CANCEL_BY_PLATFORM = "cancel_by_platform", "Cancelled by the platform"
    CANCEL_BY_SELLER = "cancel_by_seller", "Cancelled"
    CANCEL_ON_BUYER_REQUEST = "cancel_on_buyer_request", "Cancelled at the buyer's request"
    CANCEL_BY_MARKETPLACE = "cancel_by_marketplace", "Cancelled on the marketplace"
    CONTACT_UPDATED = "contact_updated", "Buyer and address received"
    DEADLINES_UPDATED = "deadlines_updated", "Deadlines set by the marketplace"
    START_FULFILLMENT = "start_fulfillment", "Picking started"
    SHIPMENT_PACKED = "shipment_packed", "Packed"
    MARK_SHIPPED = "mark_shipped", "Labelled and waiting for the carrier"
    TRACKING_UPDATED = "tracking_updated", "Tracking corrected"
    LABEL_SENT_TO_MARKETPLACE = "label_sent_to_marketplace", "Label sent to TikTok, waiting for its confirmation"
    LABEL_REFUSED_BY_MARKETPLACE = "label_refused_by_marketplace", "TikTok refused the label"
    CANCEL_SENT_TO_MARKETPLACE = "cancel_sent_to_marketplace", "Cancellation sent to TikTok, waiting for its answer"
    MARK_IN_TRANSIT = "mark_in_transit", "With the carrier"
    CARRIER_PICKED_UP = "carrier_picked_up", "Carrier confirmed the pickup"
    CARRIER_IN_TRANSIT = "carrier_in_transit", "Carrier scan on the way"
    CARRIER_DELIVERY_FAILED = "carrier_delivery_failed", "Delivery attempt failed"
    MARK_DELIVERED = "mark_delivered", "Delivered"
    MARK_LOST = "mark_lost", "Declared lost"
    COMPLETE = "complete", "Completed"
    SLA_AT_RISK = "sla_at_risk", "Deadline at risk"
    CANCELLATION_REQUESTED = "cancellation_requested", "Buyer asked to cancel"
    CANCELLATION_REQUEST_APPROVED = "cancellation_request_approved", "Cancellation request approved"
    CANCELLATION_REQUEST_AUTO_APPROVED = (
        "cancellation_request_auto_approved",
        "Cancellation request approved automatically",
    )
    CANCELLATION_REQUEST_REJECTED = "cancellation_request_rejected", "Cancellation request rejected"
    CANCELLATION_REQUEST_WITHDRAWN = "cancellation_request_withdrawn", "Buyer withdrew the cancellation request"
    RETURN_REQUESTED = "return_requested", "Buyer asked for a return"
    RETURN_APPROVED = "return_approved", "Return approved"
    RETURN_AUTO_APPROVED = "return_auto_approved", "Return approved automatically"
    RETURN_REJECTED = "return_rejected", "Return rejected"
    RETURN_RECEIVED = "return_received", "Returned parcel received"
    RETURN_INSPECTED = "return_inspected", "Returned items inspected"
    RETURN_REFUNDED = "return_refunded", "Return settled"
    RETURN_REPLACED = "return_replaced", "Replacement order created"
    RETURN_REJECTED_AFTER_INSPECTION = "return_rejected_after_inspection", "Return rejected after inspection"
    RETURN_CLOSED = "return_closed", "Return closed"
    REPLACEMENT_CREATED = "replacement_created", "Replacement order (no charge)"
    LINE_REMAPPED = "line_remapped", "Item matched to a catalogue SKU"
    STOCK_ALLOCATED = "stock_allocated", "Stock arrived: every item is reserved"


# Conditions: each takes the order and reads the clock, so tests can move time.
def _payment_overdue(order) -> bool:
    return order.payment_due_at is not None and order.payment_due_at <= timezone.now()


def _hold_over(order) -> bool:
    return order.hold_until is not None and order.hold_until <= timezone.now()


def _seller_paid(order) -> bool:
    return order.seller_paid_at is not None


def _fully_reserved(order) -> bool:
    """Every line has all its units reserved: nothing can be labelled that is not on the shelf."""
    return not order.stock_exception


def _return_window_over(order) -> bool:
    return order.return_window_ends_at is not None and order.return_window_ends_at <= timezone.now()


# Statuses in which each SLA clock (R8) still runs: an alert may fire while the order is in one of them.
SHIP_CLOCK_OPEN = [
    OrderStatus.PENDING_PAYMENT,
    OrderStatus.ON_HOLD,
    OrderStatus.AWAITING_CHECKOUT,
    OrderStatus.READY_TO_FULFILL,
    OrderStatus.IN_FULFILLMENT,
]
DELIVERY_CLOCK_OPEN = [*SHIP_CLOCK_OPEN, OrderStatus.SHIPPED, OrderStatus.IN_TRANSIT]


class Order(ConcurrentTransitionMixin, models.Model):
    # No single-column index on either: the unique (partner, external_id), the (partner, updated_at)
    # and the (seller, ...) indexes lead with them and serve every lookup by one.
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="orders", db_index=False)
    seller = models.ForeignKey(Seller, on_delete=models.PROTECT, related_name="orders", db_index=False)
    external_id = models.CharField(max_length=100, help_text="The marketplace's order id, unique per partner.")
    status = FSMField(max_length=32, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT, protected=True)

    placed_at = models.DateTimeField()
    buyer_paid_at = models.DateTimeField(null=True, blank=True)
    payment_due_at = models.DateTimeField(null=True, blank=True, help_text="Unpaid orders cancel at this time.")
    hold_until = models.DateTimeField(null=True, blank=True, help_text="The hold ends at this time.")

    # The seller's wholesale payment to us (R4), separate from the buyer's payment.
    seller_paid_at = models.DateTimeField(null=True, blank=True)
    seller_payment_reference = models.CharField(max_length=200, blank=True)

    stock_exception = models.BooleanField(
        default=False, help_text="Some line has an unknown SKU or less stock reserved than ordered."
    )

    buyer_name = models.CharField(max_length=200, blank=True)
    buyer_phone = models.CharField(max_length=50, blank=True)
    buyer_email = models.EmailField(blank=True)
    ship_line1 = models.CharField("address line 1", max_length=200, blank=True)
    ship_line2 = models.CharField("address line 2", max_length=200, blank=True)
    ship_city = models.CharField("city", max_length=100, blank=True)
    ship_region = models.CharField("region", max_length=100, blank=True)
    ship_postal_code = models.CharField("postal code", max_length=20, blank=True)
    ship_country = models.CharField("country", max_length=2, blank=True)

    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.CharField(max_length=16, choices=CancelledBy.choices, blank=True)
    cancel_reason = models.CharField(max_length=500, blank=True)

    # SLA clocks (R8), fixed at intake from ``placed_at`` unless the marketplace gives its own (R16);
    # the collection clock runs on the shipment, from ``collect_by`` when the marketplace set one.
    ship_by = models.DateTimeField(null=True, blank=True, help_text="Labelled (ready to ship) by this time.")
    tracking_due = models.DateTimeField(null=True, blank=True, help_text="Tracking number given by this time.")
    collect_by = models.DateTimeField(
        null=True,
        blank=True,
        help_text="With the carrier by this time, when the marketplace sets it; else counted from labelling.",
    )
    deliver_by = models.DateTimeField(null=True, blank=True, help_text="Delivered by this time.")
    # When the one ``order.at_risk`` alert for each clock went out; null until then.
    ship_by_alerted_at = models.DateTimeField(null=True, blank=True, editable=False)
    tracking_due_alerted_at = models.DateTimeField(null=True, blank=True, editable=False)
    deliver_by_alerted_at = models.DateTimeField(null=True, blank=True, editable=False)

    shipped_at = models.DateTimeField(null=True, blank=True, help_text="Labelled with carrier and tracking.")
    delivered_at = models.DateTimeField(null=True, blank=True, help_text="The carrier's delivery time.")
    return_window_ends_at = models.DateTimeField(
        null=True, blank=True, help_text="Delivered orders complete at this time unless returned."
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    lost_at = models.DateTimeField(null=True, blank=True, help_text="Declared lost.")

    timer_error = models.CharField(max_length=500, blank=True, help_text="Last error a timer pass hit on this order.")

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "external_id"], name="order_external_id_unique_per_partner"),
        ]
        indexes = [
            # Timer scans: only rows in the state a deadline applies to are indexed,
            # so the scan costs the number of due rows, not the table size.
            models.Index(
                fields=["payment_due_at", "id"],
                name="order_payment_due_idx",
                condition=Q(status="pending_payment"),
            ),
            models.Index(fields=["hold_until", "id"], name="order_hold_until_idx", condition=Q(status="on_hold")),
            models.Index(
                fields=["return_window_ends_at", "id"],
                name="order_return_window_idx",
                condition=Q(status="delivered"),
            ),
            # The warehouse "to ship" queue, sorted by ship-by deadline.
            models.Index(
                fields=["ship_by", "id"],
                name="order_to_ship_queue_idx",
                condition=Q(status__in=["ready_to_fulfill", "in_fulfillment"]),
            ),
            # At-risk alerts: only clocks still running and not yet alerted are indexed.
            models.Index(
                fields=["ship_by", "id"],
                name="order_ship_by_alert_idx",
                condition=Q(status__in=SHIP_CLOCK_OPEN, ship_by_alerted_at__isnull=True),
            ),
            models.Index(
                fields=["tracking_due", "id"],
                name="order_tracking_due_alert_idx",
                condition=Q(status__in=SHIP_CLOCK_OPEN, tracking_due_alerted_at__isnull=True),
            ),
            models.Index(
                fields=["deliver_by", "id"],
                name="order_deliver_by_alert_idx",
                condition=Q(status__in=DELIVERY_CLOCK_OPEN, deliver_by_alerted_at__isnull=True),
            ),
            # The order lists (bench/lists.py measures them at 1M orders): each list's filter, then
            # its sort, so the database reads the page's rows in order and stops, instead of
            # sorting every matching order. Scanned backwards for newest first.
            # The admin order list, unfiltered and by status.
            models.Index(fields=["placed_at", "id"], name="order_placed_idx"),
            models.Index(fields=["status", "placed_at", "id"], name="order_status_placed_idx"),
            # The seller portal's list, all orders and per status tab (and its bounded tab counts).
            models.Index(fields=["seller", "placed_at", "id"], name="order_seller_placed_idx"),
            models.Index(fields=["seller", "status", "placed_at", "id"], name="order_seller_status_placed_idx"),
            # The partner API's list (and ``updated_since`` syncs), most recently changed first.
            models.Index(fields=["partner", "updated_at", "id"], name="order_partner_updated_idx"),
            # The warehouse console's "Needs stock" tab and its count: open orders with a stock exception.
            models.Index(
                fields=["placed_at", "id"],
                name="order_needs_stock_idx",
                condition=Q(stock_exception=True, status__in=sorted(NOT_SHIPPED)),
            ),
        ]
        permissions = [
            ("view_buyer_details", "Can see full buyer name, phone and address"),
            ("record_seller_payment", "Can record a seller's wholesale payment as received"),
            ("cancel_order", "Can cancel an order on the seller's behalf"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.external_id}"

    @property
    def marketplace_status(self) -> str | None:
        return MARKETPLACE_STATUS.get(self.status)

    # --- transitions -------------------------------------------------------------

    @transition(field=status, source=OrderStatus.PENDING_PAYMENT, target=OrderStatus.ON_HOLD)
    def mark_buyer_paid(self, *, paid_at):
        """The buyer paid (R3): hold for the cancellation window, counted from payment."""
        self.buyer_paid_at = paid_at
        self.hold_until = paid_at + settings.HOLD_PERIOD

    @transition(
        field=status,
        source=OrderStatus.ON_HOLD,
        target=RETURN_VALUE(OrderStatus.AWAITING_CHECKOUT, OrderStatus.READY_TO_FULFILL),
        conditions=[_hold_over],
    )
    def end_hold(self):
        """The hold is over (R4): wait for the seller's payment, unless it came during the hold."""
        return OrderStatus.READY_TO_FULFILL if self.seller_paid_at else OrderStatus.AWAITING_CHECKOUT

    @transition(
        field=status,
        source=OrderStatus.ON_HOLD,
        target=RETURN_VALUE(OrderStatus.AWAITING_CHECKOUT, OrderStatus.READY_TO_FULFILL),
    )
    def end_hold_early(self):
        """The marketplace released the order before our hold would end (R16): as ``end_hold``, at once."""
        return OrderStatus.READY_TO_FULFILL if self.seller_paid_at else OrderStatus.AWAITING_CHECKOUT

    @transition(
        field=status,
        source=OrderStatus.AWAITING_CHECKOUT,
        target=OrderStatus.READY_TO_FULFILL,
        conditions=[_seller_paid],
    )
    def confirm_seller_payment(self):
        """The seller's wholesale payment is in: the warehouse may start."""

    @transition(
        field=status, source=OrderStatus.PENDING_PAYMENT, target=OrderStatus.CANCELLED, conditions=[_payment_overdue]
    )
    def cancel_unpaid(self):
        """The buyer did not pay within the payment window (R2)."""
        self._set_cancelled(CancelledBy.SYSTEM, "unpaid")

    @transition(field=status, source=[OrderStatus.PENDING_PAYMENT, OrderStatus.ON_HOLD], target=OrderStatus.CANCELLED)
    def cancel_by_buyer(self, *, reason: str):
        """Before the hold ends the buyer may cancel for any reason (R3)."""
        self._set_cancelled(CancelledBy.BUYER, reason)

    @transition(field=status, source=[OrderStatus.PENDING_PAYMENT, OrderStatus.ON_HOLD], target=OrderStatus.CANCELLED)
    def cancel_by_platform(self, *, reason: str):
        """Before the hold ends the platform may cancel, e.g. for fraud (R3)."""
        self._set_cancelled(CancelledBy.PLATFORM, reason)

    @transition(
        field=status,
        source=[
            OrderStatus.PENDING_PAYMENT,
            OrderStatus.ON_HOLD,
            OrderStatus.AWAITING_CHECKOUT,
            OrderStatus.READY_TO_FULFILL,
            OrderStatus.IN_FULFILLMENT,
        ],
        target=OrderStatus.CANCELLED,
    )
    def cancel_by_seller(self, *, by: str, reason: str):
        """The seller, or staff for the seller, may cancel anything not yet shipped (R6).

        Picking and packing are still "not shipped": the parcel has no label yet.
        """
        self._set_cancelled(by, reason)

    @transition(
        field=status,
        source=[OrderStatus.AWAITING_CHECKOUT, OrderStatus.READY_TO_FULFILL, OrderStatus.IN_FULFILLMENT],
        target=OrderStatus.CANCELLED,
    )
    def cancel_on_buyer_request(self, *, reason: str):
        """After the hold, the buyer's cancellation request was approved, by the seller or
        automatically when they did not answer in time (R5). Only before labelling."""
        self._set_cancelled(CancelledBy.BUYER, reason)

    @transition(
        field=status,
        source=[
            OrderStatus.PENDING_PAYMENT,
            OrderStatus.ON_HOLD,
            OrderStatus.AWAITING_CHECKOUT,
            OrderStatus.READY_TO_FULFILL,
            OrderStatus.IN_FULFILLMENT,
        ],
        target=OrderStatus.CANCELLED,
    )
    def cancel_by_marketplace(self, *, by: str, reason: str):
        """The marketplace cancelled the order, which is its own to cancel (R16): in any state before
        shipping, whoever started it there (``by``: buyer, seller or platform)."""
        self._set_cancelled(by, reason)

    @property
    def has_shipping_address(self) -> bool:
        """Enough to print a label: the marketplace may send the address after the order (R16)."""
        return bool(self.ship_line1 and self.ship_country)

    # --- fulfilment (the shipment's services move the order along with the parcel) ---

    @transition(field=status, source=OrderStatus.READY_TO_FULFILL, target=OrderStatus.IN_FULFILLMENT)
    def start_fulfillment(self):
        """The warehouse started picking the order."""

    @transition(
        field=status, source=OrderStatus.IN_FULFILLMENT, target=OrderStatus.SHIPPED, conditions=[_fully_reserved]
    )
    def mark_shipped(self, *, at):
        """Labelled with carrier and tracking (TikTok AWAITING_COLLECTION): the ship-by clock stops."""
        self.shipped_at = at

    @transition(field=status, source=OrderStatus.SHIPPED, target=OrderStatus.IN_TRANSIT)
    def mark_in_transit(self):
        """The carrier has the parcel (collected, dropped off, or first scanned)."""

    @transition(field=status, source=OrderStatus.IN_TRANSIT, target=OrderStatus.DELIVERED)
    def mark_delivered(self, *, at):
        """The carrier delivered at ``at``; the return window (R15) counts from then."""
        self.delivered_at = at
        self.return_window_ends_at = at + settings.RETURN_WINDOW

    @transition(
        field=status, source=OrderStatus.DELIVERED, target=OrderStatus.COMPLETED, conditions=[_return_window_over]
    )
    def complete(self):
        """Delivered and the return window has passed (R15); the completion timer also waits for open returns."""
        self.completed_at = timezone.now()

    @transition(field=status, source=[OrderStatus.SHIPPED, OrderStatus.IN_TRANSIT], target=OrderStatus.LOST)
    def mark_lost(self):
        """Not delivered in time, or too many failed attempts (R9); the shipment's timer decides."""
        self.lost_at = timezone.now()

    def _set_cancelled(self, by: str, reason: str):
        self.cancelled_at = timezone.now()
        self.cancelled_by = by
        self.cancel_reason = reason[:500]


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.ForeignKey(
        "fulfillment.SKU",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="order_lines",
        help_text="Empty when the partner sent a SKU we do not know (a stock exception).",
    )
    sku_code = models.CharField(
        max_length=64,
        help_text="The SKU as the partner sent it, or the one staff matched it to (the history keeps the original).",
    )
    quantity = models.PositiveIntegerField()
    unit_price = models.PositiveIntegerField(help_text="The buyer's unit price in minor units.")

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="order_line_quantity_positive")]

    def __str__(self):
        return f"{self.quantity} × {self.sku_code}"


class OrderEvent(AuditEvent):
    """The order's history: one row per transition or audited action (``OrderAction``)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=64, choices=OrderAction.choices)
