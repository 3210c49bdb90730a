"""Accounts: sellers, their portal users, partners, their API keys and idempotency records."""

import hashlib
import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

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

    # Outbound webhooks (R13), set through ``webhooks.services.partner_webhook_configure`` and
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

    def __str__(self):
        return f"{self.method} {self.path} with key {self.key}"
