"""``manage.py prune_old_rows``: delete what has outlived its retention now, for cron and operations.

The ``prune_old_rows`` schedule runs the same every ``PRUNE_INTERVAL``; running both at once is safe.
"""

from django.core.management.base import BaseCommand

from backoffice.pruning import prune_old_rows


class Command(BaseCommand):
    help = "Delete delivered webhooks, processed TikTok events, task results and expired idempotency records."

    def handle(self, *args, **options):
        for name, count in prune_old_rows().items():
            self.stdout.write(f"{name}: {count}")
