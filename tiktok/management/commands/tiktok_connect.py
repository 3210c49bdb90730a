"""``manage.py tiktok_connect``: connect a seller's TikTok shop from tokens obtained elsewhere (operations)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from core.actors import Actor
from core.errors import DomainError
from tiktok.services import shop_connect_with_tokens


class Command(BaseCommand):
    help = "Connect a TikTok shop to a seller with its tokens; the tokens are stored encrypted and not shown again."

    def add_arguments(self, parser):
        parser.add_argument("--seller", required=True, help="The seller's code.")
        parser.add_argument("--shop-id", required=True, help="TikTok's shop id.")
        parser.add_argument("--shop-cipher", required=True, help="TikTok's shop cipher.")
        parser.add_argument("--access-token", required=True)
        parser.add_argument("--refresh-token", required=True)
        parser.add_argument(
            "--expires-at", type=int, help="When the access token expires (Unix seconds); else it is refreshed now."
        )
        parser.add_argument("--name", default="", help="The shop's name, if TikTok is not asked (--no-check).")
        parser.add_argument("--region", default="", help="The shop's region, if TikTok is not asked (--no-check).")
        parser.add_argument(
            "--no-check",
            action="store_true",
            help="Do not try the token on TikTok's shop list first (the shop's name and region are then as given).",
        )

    def handle(self, *args, **options):
        expires = options["expires_at"]
        try:
            shop, created = shop_connect_with_tokens(
                seller_code=options["seller"],
                shop_id=options["shop_id"],
                shop_cipher=options["shop_cipher"],
                access_token=options["access_token"],
                refresh_token=options["refresh_token"],
                access_expires_at=datetime.fromtimestamp(expires, tz=UTC) if expires else None,
                name=options["name"],
                region=options["region"],
                check=not options["no_check"],
                actor=Actor.system("tiktok_connect command"),
            )
        except DomainError as exc:
            raise CommandError(exc.detail) from None
        verb = "connected" if created else "connected again"
        self.stdout.write(f"TikTok shop {shop} ({shop.shop_id}) {verb} to seller {shop.seller.code}.")
