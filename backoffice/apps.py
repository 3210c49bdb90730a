from django.apps import AppConfig
from django.db.models.signals import post_migrate


class BackofficeConfig(AppConfig):
    """The project: settings, URLs, and the wiring of the apps together (the top layer)."""

    name = "backoffice"
    verbose_name = "Back-office"

    def ready(self):
        # Imported here, not at the top: both modules import models, which only exist once apps are loaded.
        from backoffice import setup, wiring  # noqa: PLC0415

        wiring.connect()
        # After every migrate: staff groups, the timer schedules, carriers and Stripe rows, all idempotent.
        post_migrate.connect(setup.after_migrate, sender=self, dispatch_uid="backoffice-after-migrate")
