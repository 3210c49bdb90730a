"""``manage.py tiktok_demo --emulator URL``: connect the demo seller to a shop on the local TikTok emulator.

``make run`` runs it once the emulator answers. The emulator keeps its state in
memory only, so on every start the shop is made there again under the same
TikTok shop id, with new tokens, and connected again here through the same
service as ``tiktok_connect`` (the token is tried on the emulator's shop list).
Then a few orders are placed on the emulator, so its webhooks bring them in.
Development only: it talks to the emulator's control API.
"""

from __future__ import annotations

import requests
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Seller
from backoffice.management.commands.load_demo import DEMO_SELLER_CODE, PRODUCTS
from core.actors import Actor
from core.errors import DomainError
from fulfillment.models import Carrier
from tiktok.mapping import when
from tiktok.models import CarrierProvider, Shop
from tiktok.services import shop_connect_with_tokens
from tiktok.services.providers import tiktok_shipping_providers

SHOP_NAME = "Acme Goods on TikTok"


class Command(BaseCommand):
    help = "Connect the demo seller to a shop on the local TikTok Shop emulator (development only)."

    def add_arguments(self, parser):
        parser.add_argument("--emulator", required=True, help="The emulator's base URL, e.g. http://127.0.0.1:8430.")
        parser.add_argument("--orders", type=int, default=3, help="Orders to place on the emulator (default 3).")

    def _control(self, base: str, path: str, body: dict) -> dict:
        try:
            answer = requests.post(f"{base}/_emulator/{path}", json=body, timeout=10).json()
        except (requests.RequestException, ValueError) as exc:
            raise CommandError(f"The TikTok emulator at {base} did not answer: {exc}") from None
        if answer.get("code") != 0:
            raise CommandError(f"The TikTok emulator refused {path}: {answer.get('message')}")
        return answer["data"]

    def handle(self, *args, emulator: str, orders: int, **options):
        base = emulator.rstrip("/")
        self._control(base, "config", {"demo_skus": ",".join(code for code, _, _ in PRODUCTS)})
        seller = Seller.objects.filter(code=DEMO_SELLER_CODE).first()
        if seller is None:
            raise CommandError("No demo seller: run `manage.py load_demo` first.")
        known = Shop.objects.filter(seller=seller).order_by("pk").first()
        body = {"name": SHOP_NAME, "region": "US", "seller_name": seller.name}
        if known is not None:
            body["id"] = known.shop_id
        tt_shop = self._control(base, "shops", body)
        grant = self._control(base, f"shops/{tt_shop['id']}/grant", {})
        try:
            shop, created = shop_connect_with_tokens(
                seller_code=seller.code,
                shop_id=tt_shop["id"],
                shop_cipher=grant["cipher"],
                access_token=grant["access_token"],
                refresh_token=grant["refresh_token"],
                access_expires_at=when(grant["access_token_expire_in"]),
                actor=Actor.system("tiktok_demo"),
            )
        except DomainError as exc:
            raise CommandError(exc.detail) from None
        # TikTok's products for the demo SKUs (the stock sync links them and pushes their stock), and our
        # carriers mapped to TikTok's providers of the same name, so TikTok orders can be labelled at once.
        listed = requests.get(f"{base}/_emulator/products", timeout=10).json()["data"]["products"]
        have = {sku["seller_sku"] for product in listed for sku in product["skus"]}
        for code, _, _ in PRODUCTS:
            if code not in have:
                self._control(base, "products", {"seller_sku": code, "quantity": 0})
        mapped = 0
        for provider in tiktok_shipping_providers(refresh=True):
            carrier = Carrier.objects.filter(name__iexact=provider["name"]).first()
            if carrier is not None:
                CarrierProvider.objects.update_or_create(
                    carrier=carrier, defaults={"provider_id": provider["id"], "provider_name": provider["name"]}
                )
                mapped += 1
        for number in range(orders):
            code, _, _ = PRODUCTS[number % len(PRODUCTS)]
            order = self._control(
                base,
                "orders",
                {
                    "shop_id": shop.shop_id,
                    "lines": [{"seller_sku": code, "quantity": 1 + number % 2, "price": "19.99"}],
                },
            )
            if number % 2 == 0:
                self._control(base, f"orders/{order['id']}/pay", {})
        self.stdout.write(
            f"TikTok demo shop {shop} ({shop.shop_id}) {'connected' if created else 'connected again'} to "
            f"{seller.code}; {orders} orders placed on the emulator; {mapped} carriers mapped to TikTok providers."
        )
