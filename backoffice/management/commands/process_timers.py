"""``manage.py process_timers``: one pass over every due deadline, for cron-driven and ops use.

The django-q2 schedule runs the same pass every minute; running both, or this
several times at once, is safe (see ``backoffice.timers``).
"""

from django.core.management.base import BaseCommand

from backoffice.timers import process_due_timers


class Command(BaseCommand):
    help = "Run every due timer once (unpaid cancellations, hold ends) and print how many rows each moved."

    def handle(self, *args, **options):
        counts = process_due_timers()
        for name, count in counts.items():
            self.stdout.write(f"{name}: {count}")
