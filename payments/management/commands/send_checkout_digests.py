"""``manage.py send_checkout_digests``: today's digest of waiting orders, now, for cron-driven and ops use.

The daily django-q2 schedule does the same. Each seller gets at most one
digest a day, however often this runs; the emails are sent by this process,
one after the other, and any the mail server refuses are retried by the timers.
"""

from django.core.management.base import BaseCommand
from django.utils import timezone

from payments.reminders import checkout_digests_create, seller_email_send


class Command(BaseCommand):
    help = "Send today's digest of orders waiting for payment to every seller who has some and has not had it today."

    def handle(self, *args, **options):
        created = checkout_digests_create(now=timezone.now())
        results: dict[str, int] = {}
        for email_id in created:
            result = seller_email_send(email_id=email_id)
            results[result] = results.get(result, 0) + 1
        if not created:
            self.stdout.write(
                "No digest to send: no seller has orders waiting for payment, or each already had today's."
            )
            return
        self.stdout.write(f"Digests written: {len(created)}")
        for result, count in sorted(results.items()):
            self.stdout.write(f"{result}: {count}")
