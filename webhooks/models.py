"""Outbound partner webhooks (R13): the outbox of signed notifications, and every delivery attempt.

The outbox is generic: an event carries its type, its subject (order id,
external id, seller code) and a JSON payload that the app which wrote it
built. Delivery, signing, retries and parking are ``webhooks.services``'s.
"""

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from accounts.models import Partner
from core.models import AuditEvent


class WebhookEventType(models.TextChoices):
    """Every event type a partner can receive: the registry.

    To add one, add a member here and write it from the app the event is about (its ``notify.py``). The
    ``type`` column deliberately has no ``choices``, so a new type needs no migration.
    """

    ORDER_STATUS_CHANGED = "order.status_changed", "Order status changed"
    ORDER_SHIPPED = "order.shipped", "Order shipped (carrier and tracking)"
    ORDER_DELIVERED = "order.delivered", "Order delivered"
    ORDER_CANCELLED = "order.cancelled", "Order cancelled"
    ORDER_AT_RISK = "order.at_risk", "Order at risk of missing a deadline"
    RETURN_STATUS_CHANGED = "return.status_changed", "Return status changed"
    CANCELLATION_STATUS_CHANGED = "cancellation.status_changed", "Cancellation request created or answered"


class WebhookEventStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    PARKED = "parked", "Parked"


class WebhookEvent(ConcurrentTransitionMixin, models.Model):
    """One notification for one partner: an outbox row, written in the transaction that caused it.

    ``next_attempt_at`` is the outbox timer column (set while ``pending``): the
    delivery pass sends every pending event whose time has come, and each failed
    attempt pushes it back by the next ``WEBHOOK_RETRY_BACKOFF`` step. When the
    steps run out the event is ``parked`` until staff redeliver it, which starts a
    new ``round`` of attempts.
    """

    uuid = models.UUIDField("event id", default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="webhook_events")
    type = models.CharField(max_length=64, help_text="One of WebhookEventType, e.g. order.shipped.")
    # The envelope's subject, given by whoever wrote the event: the outbox sends these as they are and
    # knows nothing else about orders. ``order_id`` is indexed for the console's "events of this order".
    order_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, help_text="Our id of the order it is about."
    )
    external_id = models.CharField(max_length=100, blank=True, help_text="The marketplace's id of that order.")
    seller_code = models.CharField(max_length=32, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)

    status = FSMField(
        max_length=16, choices=WebhookEventStatus.choices, default=WebhookEventStatus.PENDING, protected=True
    )
    round = models.PositiveIntegerField(default=1, help_text="1 for the first delivery; each redelivery adds one.")
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts made in the current round.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # When a delivery task was last put on the delivery queue; cleared when a worker takes the attempt.
    # The timer pass queues a due event again only when this is empty or older than WEBHOOK_REQUEUE_AFTER.
    enqueued_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            # The delivery pass scans only pending rows, in due order.
            models.Index(fields=["next_attempt_at", "id"], name="webhook_event_due_idx", condition=Q(status="pending")),
            models.Index(fields=["status", "partner"], name="webhook_event_status_idx"),
            models.Index(fields=["delivered_at"], name="webhook_event_delivered_idx", condition=Q(status="delivered")),
        ]
        constraints = [
            # Pending ⇔ scheduled: a pending event without a time would never be sent.
            models.CheckConstraint(
                condition=Q(status="pending", next_attempt_at__isnull=False)
                | (~Q(status="pending") & Q(next_attempt_at__isnull=True)),
                name="webhook_event_pending_is_scheduled",
            ),
            models.CheckConstraint(
                condition=~Q(status="delivered") | Q(delivered_at__isnull=False),
                name="webhook_event_delivered_has_time",
            ),
        ]
        permissions = [("redeliver_webhookevent", "Can redeliver webhook events")]

    def __str__(self):
        return f"{self.type} {self.uuid}"

    # --- transitions (pure: the services in webhooks.services lock, save and audit) -----

    @transition(field=status, source=WebhookEventStatus.PENDING, target=WebhookEventStatus.DELIVERED)
    def mark_delivered(self, *, at):
        """The partner answered 2xx."""
        self.delivered_at = at
        self.next_attempt_at = None
        self.last_error = ""

    @transition(field=status, source=WebhookEventStatus.PENDING, target=WebhookEventStatus.PARKED)
    def park(self, *, error: str):
        """Retries are used up, or the partner cannot receive webhooks: wait for staff."""
        self.next_attempt_at = None
        self.last_error = error[:500]

    @transition(
        field=status,
        source=[WebhookEventStatus.PARKED, WebhookEventStatus.DELIVERED],
        target=WebhookEventStatus.PENDING,
    )
    def requeue(self, *, at):
        """Staff asked for the event again: a new round of attempts, due at ``at``."""
        self.round += 1
        self.attempts = 0
        self.next_attempt_at = at
        self.last_error = ""
        self.delivered_at = None


class WebhookDelivery(models.Model):
    """One HTTP attempt at delivering an event.

    The row is created (and committed) when a worker claims the attempt, before
    the request goes out, so the unique (event, round, number) constraint lets
    exactly one worker make each attempt. ``finished_at`` stays empty if the
    worker died mid-request.
    """

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    round = models.PositiveIntegerField()
    number = models.PositiveIntegerField(help_text="Attempt number within the round, from 1.")
    url = models.CharField(max_length=500)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = "webhook delivery attempt"
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "round", "number"], name="webhook_delivery_one_per_attempt"),
        ]

    def __str__(self):
        return f"{self.event_id} round {self.round} attempt {self.number}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookEventLog(AuditEvent):
    """The event's state history: delivered, parked, and who asked for each redelivery."""

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="history")

    class Meta(AuditEvent.Meta):
        verbose_name = "webhook event history"
        verbose_name_plural = "webhook event history"


class WebhookCircuit(models.Model):
    """A partner endpoint's circuit breaker: after repeated failures, stop trying it for a while.

    Closed (``open_until`` empty): attempts go out, and ``consecutive_failures``
    counts failed ones in a row. At ``WEBHOOK_BREAKER_FAILURES`` the circuit
    opens until ``now + WEBHOOK_BREAKER_COOLDOWN``: the partner's due events
    wait for that time without using up an attempt. Past it the circuit is
    half-open: one attempt goes out as a trial (the others wait on its lease);
    a success closes the circuit, a failure opens it for another cool-down.
    Written by ``webhooks.breaker`` only, with the row locked.
    """

    partner = models.OneToOneField(Partner, on_delete=models.CASCADE, primary_key=True, related_name="webhook_circuit")
    consecutive_failures = models.PositiveIntegerField(default=0)
    open_until = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True, help_text="When it last opened.")

    class Meta:
        verbose_name = "webhook circuit breaker"

    def __str__(self):
        return f"circuit of partner {self.partner_id}"
