"""Accounts shared by every app: sellers, their portal users, partners and API keys."""

import hashlib
import secrets
import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

seller_code_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$",
    "Use 1-32 letters, digits, '-' or '_', starting with a letter or digit.",
)


class Seller(models.Model):
    """A TikTok Shop merchant whose orders we fulfil."""

    code = models.CharField(max_length=32, unique=True, validators=[seller_code_validator])
    name = models.CharField(max_length=200)
    email = models.EmailField()
    auto_checkout = models.BooleanField(
        default=False, help_text="Charge the card on file automatically when orders leave the hold."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} ({self.name})"


class SellerMembership(models.Model):
    """Links a portal login to the seller it acts for; a user belongs to one seller."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="seller_membership")
    seller = models.ForeignKey(Seller, on_delete=models.CASCADE, related_name="memberships")

    def __str__(self):
        return f"{self.user} → {self.seller.code}"


class Partner(models.Model):
    """A marketplace connector or a seller's own system using the REST API."""

    name = models.CharField(max_length=200)
    sellers = models.ManyToManyField(Seller, related_name="partners", blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # Outbound webhooks (R13), set through ``partner_webhook_configure`` and
    # ``partner_webhook_secret_rotate``. The secret is the HMAC key, so it must be
    # stored as is (a digest could not sign); it is shown to staff once only.
    webhook_url = models.URLField(
        max_length=500, blank=True, help_text="Where signed event notifications are POSTed; empty means none are sent."
    )
    webhook_secret = models.CharField(max_length=100, blank=True, editable=False)
    webhook_secret_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    # After a rotation the old secret also signs until it expires, so the partner can switch without losing events.
    webhook_previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    webhook_previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    # DRF treats whatever authentication returns as ``request.user``.
    is_authenticated = True
    is_anonymous = False

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="partner_name_unique_ci")]

    def __str__(self):
        return self.name


class PartnerApiKey(models.Model):
    """An API key, stored as a SHA-256 digest and shown once on creation.

    Keys are 256-bit random tokens, so a fast digest is safe (there is nothing
    to brute-force) and keeps authentication off the request's critical path;
    a slow password hash would only suit low-entropy secrets.
    """

    PREFIX_LENGTH = 8

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")
    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "partner API key"

    def __str__(self):
        return f"{self.prefix}… ({self.partner})"

    @staticmethod
    def digest_for(raw_key: str) -> str:
        return hashlib.sha256(raw_key.encode()).hexdigest()

    @staticmethod
    def generate() -> tuple[str, str]:
        """Return ``(prefix, raw_key)``; the raw key is ``<prefix>.<secret>``."""
        prefix = secrets.token_hex(PartnerApiKey.PREFIX_LENGTH // 2)
        return prefix, f"{prefix}.{secrets.token_urlsafe(32)}"


class IdempotencyRecord(models.Model):
    """The stored response to a partner request sent with an ``Idempotency-Key``.

    Created (committed) before the request runs, so a concurrent repeat sees it
    and answers 409 until ``response_status`` is filled in.
    """

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_digest = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "key"], name="idempotency_key_unique_per_partner")]


# --- outbound partner webhooks (R13) ----------------------------------------------------


class WebhookEventType(models.TextChoices):
    """Every event type a partner can receive: the registry.

    To add one, add a member here and a builder in ``backoffice.webhooks``. The
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
    order = models.ForeignKey(
        "orders.Order", on_delete=models.SET_NULL, null=True, blank=True, related_name="webhook_events"
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)

    status = FSMField(max_length=16, choices=WebhookEventStatus.choices, default=WebhookEventStatus.PENDING, protected=True)
    round = models.PositiveIntegerField(default=1, help_text="1 for the first delivery; each redelivery adds one.")
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts made in the current round.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
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

    # --- transitions (pure: the services in backoffice.webhooks lock, save and audit) -----

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
        field=status, source=[WebhookEventStatus.PARKED, WebhookEventStatus.DELIVERED], target=WebhookEventStatus.PENDING
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
