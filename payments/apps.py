from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self):
        # Imported here, not at the top: the receivers' module imports models, which only exist once apps are loaded.
        from payments import stripe_events  # noqa: PLC0415

        # Stripe's webhooks reconcile our payments (dj-stripe verifies and de-duplicates them first).
        stripe_events.connect()
