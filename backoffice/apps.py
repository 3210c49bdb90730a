from django.apps import AppConfig
from django.db.models.signals import post_migrate


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = "Accounts"

    def ready(self):
        from backoffice import setup

        # After every migrate: staff groups and the timer schedule, both idempotent.
        post_migrate.connect(setup.after_migrate, sender=self, dispatch_uid="backoffice-after-migrate")
