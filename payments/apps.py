from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self):
        from payments import webhooks

        # Stripe's webhooks reconcile our payments (dj-stripe verifies and de-duplicates them first).
        webhooks.connect()
