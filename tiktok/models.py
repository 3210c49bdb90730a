"""A seller's connected TikTok Shop, the webhooks it sends us, and the link from its orders to ours.

* ``Shop``: one TikTok shop of one seller, its cipher and region, its tokens
  (encrypted, never shown again), their expiry, its connection state, and the
  two timer columns (token refresh, polling) with the polling cursor. Each
  shop has its own ``Partner`` ("TikTok Shop <name>"), so its orders have a
  partner like any other and ``(partner, external_id)`` stays their identity.
* ``TikTokEvent``: every webhook TikTok sent us, stored once (unique on the
  shop and ``tts_notification_id``, or on a hash of the body when TikTok sends
  no id), with its processing state and error.
* ``TikTokOrder``: which TikTok order an order of ours is, with TikTok's status
  and update time as last reconciled.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from accounts.models import Partner, Seller
from core.models import AuditEvent
from orders.models import Order
from tiktok import crypto
from tiktok.client import ShopAccess


class ShopStatus(models.TextChoices):
    ACTIVE = "active", "Connected"
    TOKEN_EXPIRED = "token_expired", "Token expired: connect again"
    DEAUTHORISED = "deauthorised", "Disconnected"


class Shop(ConcurrentTransitionMixin, models.Model):
    seller = models.ForeignKey(Seller, on_delete=models.PROTECT, related_name="tiktok_shops")
    partner = models.OneToOneField(
        Partner,
        on_delete=models.PROTECT,
        related_name="tiktok_shop",
        help_text="The partner this shop's orders belong to, made when the shop was first connected.",
    )
    shop_id = models.CharField("TikTok shop id", max_length=64, unique=True)
    shop_cipher = models.CharField(max_length=200)
    name = models.CharField(max_length=200, blank=True)
    region = models.CharField(max_length=8, blank=True)
    code = models.CharField(max_length=32, blank=True, help_text="TikTok's short shop code.")

    # Fernet ciphertexts (``tiktok.crypto``); read them through ``access`` only.
    access_token_encrypted = models.TextField(blank=True, editable=False)
    refresh_token_encrypted = models.TextField(blank=True, editable=False)
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True)

    status = FSMField(max_length=16, choices=ShopStatus.choices, default=ShopStatus.ACTIVE, protected=True)
    status_note = models.CharField(max_length=500, blank=True, help_text="Why the shop is not connected.")
    connected_at = models.DateTimeField(default=timezone.now)
    disconnected_at = models.DateTimeField(null=True, blank=True)

    # Timers (``tiktok.timers``): refresh the token before it expires; poll for missed webhooks.
    token_refresh_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    sync_cursor = models.BigIntegerField(
        null=True, blank=True, help_text="TikTok update time (Unix seconds) the next poll searches from."
    )
    last_synced_at = models.DateTimeField(null=True, blank=True, help_text="The last poll that went through.")
    sync_error = models.CharField(max_length=500, blank=True, help_text="Why the last poll failed, if it did.")
    timer_error = models.CharField(max_length=500, blank=True)
    next_stock_sync_at = models.DateTimeField(
        null=True, blank=True, help_text="When every linked SKU's stock is pushed again (drift correction)."
    )
    reject_reasons = models.JSONField(
        default=dict, blank=True, help_text="TikTok's reject reasons by kind (CANCEL, RETURN), as last read."
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["seller__code", "name"]
        verbose_name = "TikTok shop"
        indexes = [
            models.Index(
                fields=["token_refresh_at", "id"], name="tiktok_shop_refresh_idx", condition=Q(status="active")
            ),
            models.Index(fields=["next_poll_at", "id"], name="tiktok_shop_poll_idx", condition=Q(status="active")),
        ]

    def __str__(self):
        return self.name or f"TikTok shop {self.shop_id}"

    @property
    def access(self) -> ShopAccess:
        """What the client needs for this shop's calls (tokens decrypted in memory only)."""
        return ShopAccess(shop_cipher=self.shop_cipher, access_token=crypto.decrypt(self.access_token_encrypted))

    @property
    def refresh_token(self) -> str:
        return crypto.decrypt(self.refresh_token_encrypted)

    def set_tokens(self, *, access_token: str, access_expires_at, refresh_token: str, refresh_expires_at) -> None:
        self.access_token_encrypted = crypto.encrypt(access_token)
        self.refresh_token_encrypted = crypto.encrypt(refresh_token)
        self.access_token_expires_at = access_expires_at
        self.refresh_token_expires_at = refresh_expires_at

    @transition(field=status, source=[ShopStatus.TOKEN_EXPIRED, ShopStatus.DEAUTHORISED], target=ShopStatus.ACTIVE)
    def reconnect(self):
        """The seller authorised us again (new tokens are set alongside)."""
        self.status_note = ""
        self.connected_at = timezone.now()
        self.disconnected_at = None

    @transition(field=status, source=ShopStatus.ACTIVE, target=ShopStatus.TOKEN_EXPIRED)
    def expire_token(self, *, note: str):
        """The tokens can no longer be refreshed: the seller must connect again."""
        self.status_note = note[:500]
        self.token_refresh_at = None
        self.next_poll_at = None

    @transition(field=status, source=[ShopStatus.ACTIVE, ShopStatus.TOKEN_EXPIRED], target=ShopStatus.DEAUTHORISED)
    def deauthorise(self, *, note: str):
        """The seller withdrew our access (on TikTok, or here). Nothing is deleted; the tokens are forgotten."""
        self.status_note = note[:500]
        self.disconnected_at = timezone.now()
        self.access_token_encrypted = self.refresh_token_encrypted = ""
        self.token_refresh_at = None
        self.next_poll_at = None


class ShopAction(models.TextChoices):
    CONNECTED = "connected", "Connected"
    RECONNECTED = "reconnected", "Connected again"
    TOKENS_REFRESHED = "tokens_refreshed", "Tokens refreshed"
    REFRESH_FAILED = "refresh_failed", "Token refresh failed"
    TOKEN_EXPIRED = "token_expired", "Token expired"
    DEAUTHORISED = "deauthorised", "Disconnected"


class ShopEvent(AuditEvent):
    """The shop's history: connections, token refreshes and their failures, disconnection."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=64, choices=ShopAction.choices)


class EventType(models.IntegerChoices):
    ORDER_STATUS_CHANGE = 1, "Order status change"
    REVERSE_ORDER_STATUS_CHANGE = 2, "Reverse order status change (legacy)"
    RECIPIENT_ADDRESS_UPDATE = 3, "Recipient address update"
    PACKAGE_UPDATE = 4, "Package update"
    PRODUCT_STATUS_CHANGE = 5, "Product status change"
    SELLER_DEAUTHORIZATION = 6, "Seller deauthorisation"
    UPCOMING_AUTHORIZATION_EXPIRATION = 7, "Authorisation expiring soon"
    CANCELLATION_STATUS_CHANGE = 11, "Cancellation status change"
    RETURN_STATUS_CHANGE = 12, "Return status change"


# What we act on; every other type is stored and marked ignored.
HANDLED_TYPES = frozenset(
    {
        EventType.ORDER_STATUS_CHANGE,
        EventType.RECIPIENT_ADDRESS_UPDATE,
        EventType.SELLER_DEAUTHORIZATION,
        EventType.CANCELLATION_STATUS_CHANGE,
        EventType.RETURN_STATUS_CHANGE,
    }
)


class EventStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"
    IGNORED = "ignored", "Ignored"


class TikTokEvent(models.Model):
    """A webhook from TikTok, stored as received (signature checked) and processed by a task.

    ``next_attempt_at`` is the timer column: set when the event is stored (in
    case its task is lost) and after a failure (retried after a backoff); empty
    once processed, ignored, or given up on.
    """

    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, null=True, blank=True, related_name="tiktok_events")
    tiktok_shop_id = models.CharField("TikTok shop id", max_length=64, blank=True)
    type = models.PositiveSmallIntegerField()
    notification_id = models.CharField(
        "tts_notification_id", max_length=64, blank=True, help_text="TikTok's id for the event, when it sends one."
    )
    body_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the raw body: the identity of an event sent without id."
    )
    body = models.JSONField()
    tiktok_order_id = models.CharField(max_length=64, blank=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="The envelope's timestamp.")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    status = models.CharField(max_length=16, choices=EventStatus.choices, default=EventStatus.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "TikTok event"
        constraints = [
            models.UniqueConstraint(
                fields=["tiktok_shop_id", "notification_id"],
                condition=~Q(notification_id=""),
                name="tiktok_event_unique_notification",
            ),
            models.UniqueConstraint(
                fields=["body_hash"], condition=Q(notification_id=""), name="tiktok_event_unique_body"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                name="tiktok_event_due_idx",
                condition=Q(status__in=["received", "failed"]),
            ),
        ]
        permissions = [("reprocess_tiktokevent", "Can process a TikTok event again")]

    def __str__(self):
        return f"{self.get_type_display()} {self.notification_id or self.body_hash[:12]}"

    def get_type_display(self) -> str:
        try:
            return EventType(self.type).label
        except ValueError:
            return f"Type {self.type}"

    @property
    def data(self) -> dict:
        data = self.body.get("data") if isinstance(self.body, dict) else None
        return data if isinstance(data, dict) else {}


class TikTokOrder(models.Model):
    """An order of ours that is a TikTok order, with TikTok's side as last reconciled."""

    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="orders")
    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="tiktok")
    tiktok_order_id = models.CharField(max_length=64)
    status = models.CharField("TikTok status", max_length=32)
    update_time = models.BigIntegerField(help_text="TikTok's update time (Unix seconds) of the detail last applied.")
    synced_at = models.DateTimeField(default=timezone.now)
    shipping_type = models.CharField(
        max_length=16, blank=True, help_text="SELLER: we ship with our carriers; TIKTOK: through TikTok's logistics."
    )
    package_ids = models.JSONField(default=list, blank=True, help_text="TikTok's packages of the order.")
    delivery_option_id = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = "TikTok order"
        constraints = [
            models.UniqueConstraint(fields=["shop", "tiktok_order_id"], name="tiktok_order_unique_per_shop"),
        ]

    def __str__(self):
        return f"TikTok order {self.tiktok_order_id}"


# --- the outbound side: calls to TikTok (R17) ---------------------------------------------------------


class CallOperation(models.TextChoices):
    SHIP_PACKAGE = "ship_package", "Ship the package"
    UPDATE_SHIPPING_INFO = "update_shipping_info", "Update the tracking"
    FETCH_LABEL = "fetch_label", "Fetch the shipping label"
    CANCELLATION_APPROVE = "cancellation_approve", "Approve a cancellation request"
    CANCELLATION_REJECT = "cancellation_reject", "Reject a cancellation request"
    ORDER_CANCEL = "order_cancel", "Cancel the order"
    RETURN_DECIDE = "return_decide", "Answer a return"
    INVENTORY_UPDATE = "inventory_update", "Update the stock"


class CallStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENDING = "sending", "Being sent"
    FAILED = "failed", "Failed, will retry"
    SUCCEEDED = "succeeded", "Sent"
    REJECTED = "rejected", "Refused by TikTok"
    PARKED = "parked", "Parked: gave up retrying"
    SUPERSEDED = "superseded", "Replaced by a newer stock push"


CALL_OPEN = [CallStatus.PENDING, CallStatus.SENDING, CallStatus.FAILED]


class TikTokCall(models.Model):
    """One call to TikTok that a decision of ours needs: the outbox row (R17).

    Written in the transaction that made the decision, so both commit or neither
    does; sent after the commit by a task, with no row lock held; the answer is
    recorded in a new transaction. ``next_attempt_at`` is the timer column: when
    a failed call is tried again, or when a call whose worker never reported
    back (it died) is checked and sent again. ``idempotency_key`` goes to TikTok
    where the endpoint takes one; elsewhere the sender reads TikTok's state back
    before a second attempt, so a call has one visible effect.

    ``collapse_key`` groups stock pushes: while one waits for a SKU, later
    changes ride on it (the quantity is read when the call is sent).
    """

    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="calls")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, null=True, blank=True, related_name="tiktok_calls")
    operation = models.CharField(max_length=32, choices=CallOperation.choices)
    target = models.CharField(
        max_length=64, blank=True, help_text="TikTok's id the call is about (package, request, return, product)."
    )
    payload = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=64, unique=True)
    collapse_key = models.CharField(max_length=100, blank=True)

    status = models.CharField(max_length=16, choices=CallStatus.choices, default=CallStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    error_code = models.BigIntegerField(null=True, blank=True, help_text="TikTok's code of the last refusal.")
    error = models.CharField(max_length=1000, blank=True, help_text="TikTok's message, or why there was no answer.")
    result = models.JSONField(null=True, blank=True, help_text="TikTok's answer (its data).")

    requested_by = models.CharField(max_length=200, blank=True, help_text="Who made the decision behind the call.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "TikTok call"
        verbose_name_plural = "TikTok sync (calls to TikTok)"
        constraints = [
            # One waiting stock push per SKU link: a burst of changes makes one call.
            models.UniqueConstraint(
                fields=["collapse_key"],
                condition=Q(status="pending") & ~Q(collapse_key=""),
                name="tiktok_call_one_pending_per_collapse_key",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                name="tiktok_call_due_idx",
                condition=Q(status__in=["pending", "sending", "failed"]),
            ),
            models.Index(fields=["status", "shop"], name="tiktok_call_status_idx"),
        ]
        permissions = [("retry_tiktokcall", "Can send a TikTok call again")]

    def __str__(self):
        return f"{self.get_operation_display()} #{self.pk}"

    @property
    def reason(self) -> str:
        if self.status in (CallStatus.REJECTED, CallStatus.PARKED, CallStatus.FAILED):
            code = f" (TikTok code {self.error_code})" if self.error_code else ""
            return f"{self.error}{code}"
        return ""


class TikTokCallAttempt(models.Model):
    """One attempt of a call: when, how long, and TikTok's answer."""

    call = models.ForeignKey(TikTokCall, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=CallStatus.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    code = models.BigIntegerField(null=True, blank=True)
    message = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["call", "number"]
        verbose_name = "attempt"

    def __str__(self):
        return f"attempt {self.number}"


class CarrierProvider(models.Model):
    """Which of TikTok's shipping providers one of our carriers is: labels of seller-shipped TikTok orders
    carry its ``shipping_provider_id``. Staff pick it in the carrier admin, from TikTok's list."""

    carrier = models.OneToOneField("fulfillment.Carrier", on_delete=models.CASCADE, related_name="tiktok_provider")
    provider_id = models.CharField("TikTok shipping provider id", max_length=64)
    provider_name = models.CharField("TikTok shipping provider", max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "TikTok shipping provider of a carrier"

    def __str__(self):
        return f"{self.carrier} = {self.provider_name or self.provider_id}"


class SkuLink(models.Model):
    """Which TikTok product and SKU one of our SKUs is in a shop (matched by ``seller_sku``), and the last
    stock we pushed for it."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="sku_links")
    sku = models.ForeignKey("fulfillment.SKU", on_delete=models.CASCADE, related_name="tiktok_links")
    product_id = models.CharField(max_length=64)
    tiktok_sku_id = models.CharField(max_length=64)
    warehouse_id = models.CharField(max_length=64, blank=True)
    pushed_quantity = models.IntegerField(null=True, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(
        null=True, blank=True, help_text="The first stock change not yet on TikTok (for the sync lag)."
    )
    linked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "TikTok SKU link"
        constraints = [
            models.UniqueConstraint(fields=["shop", "sku"], name="tiktok_sku_link_unique"),
        ]

    def __str__(self):
        return f"{self.sku} = TikTok {self.tiktok_sku_id}"


class ShippingDocument(models.Model):
    """A shipping label (or packing slip) PDF fetched from TikTok for a TikTok-logistics package."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="tiktok_documents")
    package_id = models.CharField(max_length=64)
    document_type = models.CharField(max_length=40, default="SHIPPING_LABEL")
    pdf = models.BinaryField()
    fetched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "TikTok shipping document"
        constraints = [
            models.UniqueConstraint(fields=["order", "document_type"], name="tiktok_document_unique_per_order"),
        ]

    def __str__(self):
        return f"{self.document_type} of package {self.package_id}"
