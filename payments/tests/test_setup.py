"""The Stripe rows dj-stripe needs come from migrate (and ``manage.py stripe_setup``), never by hand."""

import io

import pytest
from django.core.management import call_command
from djstripe.models import Account, APIKey, WebhookEndpoint

from payments import stripe_setup

pytestmark = pytest.mark.django_db


def test_migrate_created_the_key_the_emulator_account_and_the_webhook_endpoint(settings):
    key = APIKey.objects.get(secret=settings.STRIPE_SECRET_KEY)
    assert key.djstripe_owner_account == Account.objects.get(id=stripe_setup.EMULATOR_ACCOUNT_ID)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.url == f"{settings.SITE_URL}/stripe/webhook/{endpoint.djstripe_uuid}/"

    out = io.StringIO()
    call_command("stripe_setup", stdout=out)

    assert f"Webhook URL: {endpoint.url}" in out.getvalue()
    assert (APIKey.objects.count(), WebhookEndpoint.objects.count()) == (1, 1)
    assert WebhookEndpoint.objects.get().secret == endpoint.secret  # stable across runs


def test_against_stripe_the_endpoint_waits_for_its_signing_secret(settings):
    APIKey.objects.all().delete()
    WebhookEndpoint.objects.all().delete()
    del settings.STRIPE_API_HOST
    settings.STRIPE_SECRET_KEY = "sk_live_" + "c3" * 20
    settings.STRIPE_LIVE_MODE = True
    settings.STRIPE_WEBHOOK_SECRET = ""

    out = io.StringIO()
    call_command("stripe_setup", stdout=out)

    assert "Webhook endpoint: not configured" in out.getvalue()
    assert f"{settings.SITE_URL}/stripe/webhook/{stripe_setup.endpoint_uuid()}/" in out.getvalue()
    assert not WebhookEndpoint.objects.exists()
    key = APIKey.objects.get()
    assert (key.livemode, key.djstripe_owner_account) == (True, None)  # fetched from Stripe when first needed

    settings.STRIPE_WEBHOOK_SECRET = "whsec_from_the_dashboard"
    call_command("stripe_setup", stdout=io.StringIO())
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.secret, endpoint.djstripe_uuid) == ("whsec_from_the_dashboard", stripe_setup.endpoint_uuid())


def test_the_emulator_is_told_where_to_send_its_events(emulator, settings):
    out = io.StringIO()
    call_command("stripe_setup", "--emulator-webhooks", "--site-url", "http://127.0.0.1:8000", stdout=out)
    endpoint = WebhookEndpoint.objects.get()
    assert (
        f"localstripe will post its events to http://127.0.0.1:8000/stripe/webhook/{endpoint.djstripe_uuid}/"
        in out.getvalue()
    )
