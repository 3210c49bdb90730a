"""``manage.py create_seller CODE --name N --email E``: provision a seller without the admin."""

from django.core.management.base import BaseCommand, CommandError

from accounts.services import seller_create
from core.actors import Actor
from core.errors import DomainError


class Command(BaseCommand):
    help = "Create a seller. CODE is how partners and stock CSV files refer to it and cannot change later."

    def add_arguments(self, parser):
        parser.add_argument("code", help="1-32 letters, digits, '-' or '_', starting with a letter or digit")
        parser.add_argument("--name", required=True, help="the seller's display name")
        parser.add_argument("--email", required=True, help="where order reminders and notices go")
        parser.add_argument("--auto-checkout", action="store_true", help="charge the card on file automatically")

    def handle(self, *args, code, name, email, auto_checkout, **options):
        try:
            seller = seller_create(
                code=code, name=name, email=email, auto_checkout=auto_checkout, actor=Actor.system("create_seller")
            )
        except DomainError as exc:
            raise CommandError(exc.detail) from None
        self.stdout.write(self.style.SUCCESS(f"Seller {seller.code} created (id {seller.pk})."))
