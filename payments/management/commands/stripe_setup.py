"""Show (and set up) how this installation talks to Stripe: key, account, webhook URL.

    python manage.py stripe_setup                     # create missing rows, print the webhook URL
    python manage.py stripe_setup --refresh-account   # also fetch the account behind the key from Stripe
    python manage.py stripe_setup --emulator-webhooks # register our webhook URL with localstripe

``migrate`` already creates the rows; this command is for the operator:
register the printed URL at Stripe (Dashboard → Developers → Webhooks), put
the signing secret Stripe shows in ``STRIPE_WEBHOOK_SECRET``, and run it again.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from payments import stripe_setup


class Command(BaseCommand):
    help = "Create the Stripe key/account/webhook rows dj-stripe needs and print the webhook URL."

    def add_arguments(self, parser):
        parser.add_argument("--refresh-account", action="store_true", help="fetch the key's account from Stripe now")
        parser.add_argument(
            "--emulator-webhooks",
            action="store_true",
            help="register our webhook URL with localstripe (STRIPE_API_HOST)",
        )
        parser.add_argument("--site-url", default=None, help="base URL localstripe should post to (default SITE_URL)")

    def handle(self, *args, refresh_account, emulator_webhooks, site_url, **options):
        api_key = stripe_setup.ensure_api_key()
        if api_key is None:
            raise CommandError("STRIPE_SECRET_KEY is not set.")
        if refresh_account and not stripe_setup.uses_emulator():
            api_key.refresh_account()
        target = settings.STRIPE_API_HOST if stripe_setup.uses_emulator() else "Stripe"
        account = api_key.djstripe_owner_account_id or "not fetched yet (dj-stripe fetches it on first use)"
        self.stdout.write(f"Stripe API: {target}; key {api_key.secret_redacted}; account {account}")
        endpoint = stripe_setup.ensure_webhook_endpoint()
        if endpoint is None:
            self.stdout.write(
                f"Webhook endpoint: not configured. Register {settings.SITE_URL}{stripe_setup.webhook_path()} at "
                "Stripe "
                f"for the events {', '.join(stripe_setup.WEBHOOK_EVENTS)}; put its signing secret in "
                "STRIPE_WEBHOOK_SECRET and run this again."
            )
            return
        self.stdout.write(f"Webhook URL: {endpoint.url}")
        self.stdout.write(f"Webhook events: {', '.join(stripe_setup.WEBHOOK_EVENTS)}")
        if emulator_webhooks:
            if not stripe_setup.uses_emulator():
                raise CommandError("--emulator-webhooks needs STRIPE_API_HOST pointing at localstripe.")
            url = stripe_setup.register_emulator_webhooks(endpoint, site_url=site_url)
            self.stdout.write(f"localstripe will post its events to {url}")
