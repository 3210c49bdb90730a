"""``manage.py create_partner NAME --seller CODE [--seller CODE ...]``: a partner and its first API key."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.services import partner_api_key_issue, partner_create
from core.actors import Actor
from core.errors import DomainError


class Command(BaseCommand):
    help = "Create a partner allowed to act for the given sellers, and print its API key (shown this once only)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the partner's name, unique regardless of case")
        parser.add_argument(
            "--seller",
            dest="sellers",
            action="append",
            required=True,
            metavar="CODE",
            help="a seller this partner may act for; repeat for several",
        )
        parser.add_argument("--label", default="", help="a note stored with the key, e.g. where it is deployed")

    def handle(self, *args, name, sellers, label, **options):
        actor = Actor.system("create_partner")
        try:
            # Partner and key together or not at all: a partner without a key
            # would need a second step that nobody remembers.
            with transaction.atomic():
                partner = partner_create(name=name, seller_codes=sellers, actor=actor)
                key, raw_key = partner_api_key_issue(partner_id=partner.pk, label=label, actor=actor)
        except DomainError as exc:
            raise CommandError(exc.detail) from None
        codes = ", ".join(partner.sellers.order_by("code").values_list("code", flat=True))
        self.stdout.write(self.style.SUCCESS(f"Partner {partner.name} created (id {partner.pk}) for {codes}."))
        self.stdout.write(f"API key: {raw_key}")
        self.stdout.write("Store it now: only its digest is kept, so it cannot be shown again.")
