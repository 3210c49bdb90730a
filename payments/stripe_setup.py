"""The rows dj-stripe needs before it can process a webhook, created after every ``migrate`` (idempotent).

* An ``APIKey`` for ``STRIPE_SECRET_KEY``. dj-stripe looks up the Stripe
  account a key belongs to through it. Against Stripe, the account is fetched
  lazily (``/v1/account``) the first time dj-stripe needs it, or at once with
  ``manage.py stripe_setup --refresh-account``; migrate itself never calls out.
  Against the emulator, which has no ``/v1/account``, a local ``Account`` row
  stands in for it.
* A ``WebhookEndpoint`` holding the signing secret, whose uuid is part of our
  webhook URL (``/stripe/webhook/<uuid>/``). Its secret is
  ``STRIPE_WEBHOOK_SECRET`` (as Stripe shows it for the endpoint registered
  there); against the emulator a random one is made, which
  ``stripe_setup --emulator-webhooks`` hands to localstripe.
"""

from __future__ import annotations

import logging
import secrets
import uuid

import requests
from django.conf import settings
from django.urls import reverse
from djstripe.enums import APIKeyType
from djstripe.models import Account, APIKey, WebhookEndpoint

logger = logging.getLogger(__name__)

EMULATOR_ACCOUNT_ID = "acct_emulator"
ENDPOINT_ID = "we_backoffice"
WEBHOOK_EVENTS = [
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.requires_action",
    "charge.refunded",
    "customer.updated",
    "payment_method.attached",
    "payment_method.detached",
    "payment_method.updated",
]


def uses_emulator() -> bool:
    return bool(getattr(settings, "STRIPE_API_HOST", ""))


def ensure_api_key():
    """The APIKey row for our secret key, with its owner account when we can know it without calling out."""
    key = settings.STRIPE_SECRET_KEY
    if not key:
        return None
    livemode = settings.STRIPE_LIVE_MODE
    api_key = APIKey.objects.filter(secret=key).first()
    if uses_emulator():
        account, _ = Account.objects.get_or_create(
            id=EMULATOR_ACCOUNT_ID,
            defaults={"livemode": livemode, "stripe_data": {"id": EMULATOR_ACCOUNT_ID, "object": "account"}},
        )
        if api_key is None:
            return APIKey.objects.create(
                secret=key,
                name="STRIPE_SECRET_KEY",
                type=APIKeyType.secret if key.startswith("sk_") else APIKeyType.restricted,
                livemode=livemode,
                djstripe_owner_account=account,
            )
        if api_key.djstripe_owner_account_id is None:
            api_key.djstripe_owner_account = account
            api_key.save(update_fields=["djstripe_owner_account"])
        return api_key
    if api_key is None:
        api_key, _ = APIKey.objects.get_or_create_by_api_key(key)
    return api_key


def endpoint_uuid() -> uuid.UUID:
    """The uuid in our webhook URL, known before the endpoint row exists (so it can be registered at Stripe first).

    It only routes the request to the endpoint row; the signature is what proves an event came from Stripe.
    """
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{settings.SITE_URL}/stripe/webhook")


def webhook_path(endpoint=None) -> str:
    value = endpoint.djstripe_uuid if endpoint is not None else endpoint_uuid()
    return reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": value})


def ensure_webhook_endpoint():
    """Our webhook endpoint row, with the signing secret; None while production has no secret configured."""
    endpoint = WebhookEndpoint.objects.filter(id=ENDPOINT_ID).first()
    secret = settings.STRIPE_WEBHOOK_SECRET or (endpoint.secret if endpoint else "")
    if not secret and uses_emulator():
        secret = f"whsec_{secrets.token_hex(24)}"
    if not secret:
        logger.warning("STRIPE_WEBHOOK_SECRET is not set: Stripe webhooks are refused until it is (see stripe_setup).")
        return None
    api_key = ensure_api_key()
    owner = api_key.djstripe_owner_account if api_key else None
    if endpoint is None:
        endpoint = WebhookEndpoint(
            id=ENDPOINT_ID,
            livemode=settings.STRIPE_LIVE_MODE,
            enabled_events=WEBHOOK_EVENTS,
            status="enabled",
            api_version="",
            url="http://placeholder/",
            djstripe_owner_account=owner,
            secret=secret,
            djstripe_uuid=endpoint_uuid(),
        )
        endpoint.save()
    endpoint.url = f"{settings.SITE_URL}{webhook_path(endpoint)}"
    endpoint.secret = secret
    endpoint.enabled_events = WEBHOOK_EVENTS
    if owner is not None:
        endpoint.djstripe_owner_account = owner
    endpoint.save(update_fields=["url", "secret", "enabled_events", "djstripe_owner_account", "djstripe_updated"])
    return endpoint


def ensure_stripe() -> None:
    """Run after every migrate: the APIKey (and emulator account) and the webhook endpoint."""
    ensure_api_key()
    ensure_webhook_endpoint()


def register_emulator_webhooks(endpoint, *, site_url: str | None = None) -> str:
    """Tell localstripe to POST its events, signed with the endpoint's secret, to our webhook URL."""
    url = f"{(site_url or settings.SITE_URL).rstrip('/')}{webhook_path(endpoint)}"
    response = requests.post(
        f"{settings.STRIPE_API_HOST}/_config/webhooks/backoffice",
        json={"url": url, "secret": endpoint.secret, "events": WEBHOOK_EVENTS},
        timeout=10,
    )
    response.raise_for_status()
    return url
