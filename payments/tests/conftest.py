"""A real Stripe emulator for the payments tests: localstripe, started once per test session.

localstripe (dev/test only, never imported by the application) speaks Stripe's
HTTP API. The session fixture starts it as a subprocess on a free loopback
port and waits until it answers; ``stripe_emulator`` points stripe-python and
``settings.STRIPE_API_HOST`` at it for one test. Its state-file writes (to a
fixed path in /tmp, after every request) are switched off so the tests never
clobber a developer's running emulator.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import requests
import stripe
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.tests.factories import PartnerFactory, SellerFactory
from core.actors import Actor
from fulfillment.tests.factories import make_sku
from orders.locks import lock_order
from orders.services import order_end_hold
from orders.tests.factories import make_order

RUNNER = (
    "import sys, localstripe.resources as r; "
    "r.Store.dump_to_disk = lambda self: None; "
    "from localstripe.server import start; sys.argv[0] = 'localstripe'; start()"
)
TEST_CARDS = {
    "ok": "4242424242424242",
    "declines_charges": "4000000000000341",  # attaches fine, every charge is declined
    "needs_authentication": "4000002500003155",  # every charge wants 3-D Secure
}
SYSTEM = Actor.system("test")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def localstripe_url():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"localstripe exited with status {proc.returncode}")
            try:
                if requests.get(f"{url}/v1/customers", auth=(settings.STRIPE_SECRET_KEY, ""), timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("localstripe did not answer within 30 s")
            time.sleep(0.05)  # waiting for a process to listen, not for business time
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def stripe_emulator(localstripe_url, settings):
    """Point stripe-python (and dj-stripe) at the session's localstripe for this test."""
    previous = stripe.api_base
    stripe.api_base = localstripe_url
    settings.STRIPE_API_HOST = localstripe_url
    settings.STRIPE_JS_URL = f"{localstripe_url}/js.stripe.com/v3/"
    yield localstripe_url
    stripe.api_base = previous


class Emulator:
    """What a test does at Stripe's side: confirm a card form as Stripe.js would, count PaymentIntents."""

    def __init__(self, url: str):
        self.url = url

    def confirm_setup(self, setup, number: str) -> dict:
        """Confirm a SetupIntent with a card the way Stripe.js does, with the publishable key."""
        response = requests.post(
            f"{self.url}/v1/setup_intents/{setup.setup_intent_id}/confirm",
            json={
                "key": setup.publishable_key,
                "client_secret": setup.client_secret,
                "use_stripe_sdk": True,
                "payment_method_data": {
                    "type": "card",
                    "card": {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"},
                },
            },
            timeout=10,
        )
        body = response.json()
        if body.get("status") == "requires_action":
            # The card's bank asks for 3-D Secure: the seller completes it in Stripe.js's dialog.
            body = requests.post(
                f"{self.url}/v1/setup_intents/{setup.setup_intent_id}/confirm",
                json={"key": setup.publishable_key, "client_secret": setup.client_secret, "use_stripe_sdk": True},
                timeout=10,
            ).json()
        return body

    def payment_intents(self, customer_id: str) -> list[dict]:
        found, after = [], None
        while True:
            params = {"limit": 100, **({"starting_after": after} if after else {})}
            page = requests.get(
                f"{self.url}/v1/payment_intents", params=params, auth=(settings.STRIPE_SECRET_KEY, ""), timeout=10
            ).json()
            found += [pi for pi in page["data"] if pi["customer"] == customer_id]
            if not page["has_more"]:
                return found
            after = page["data"][-1]["id"]

    def events(self, type_: str) -> list[dict]:
        page = requests.get(
            f"{self.url}/v1/events",
            params={"type": type_, "limit": 1000},
            auth=(settings.STRIPE_SECRET_KEY, ""),
            timeout=10,
        ).json()
        return page["data"]


@pytest.fixture
def emulator(stripe_emulator):
    return Emulator(stripe_emulator)


def add_card(emulator: Emulator, seller, kind: str = "ok", *, make_default: bool = False):
    """Save a test card for ``seller`` through a SetupIntent, exactly as the portal's card form does."""
    from payments.services import card_setup_complete, card_setup_start

    setup = card_setup_start(seller=seller, actor=SYSTEM)
    confirmed = emulator.confirm_setup(setup, TEST_CARDS[kind])
    assert confirmed.get("status") == "succeeded", confirmed
    return card_setup_complete(
        seller=seller, setup_intent_id=setup.setup_intent_id, actor=SYSTEM, make_default=make_default
    )


@pytest.fixture
def shop(db):
    """A seller (Auto Checkout off), its partner and a SKU with wholesale cost 12.50."""
    seller = SellerFactory(code="PAYER", name="Payer Goods", email="payer@example.com")
    partner = PartnerFactory(name="Pay Connector", sellers=[seller])
    sku = make_sku(seller=seller, code="MUG", on_hand=1000, wholesale_cost=1250)
    return partner, seller, sku


def held_order(shop, *, quantity: int = 2, paid_ago: timedelta = timedelta(minutes=5), **kwargs):
    """An order the buyer paid ``paid_ago``; on hold until 60 minutes after that."""
    partner, seller, sku = shop
    paid_at = timezone.now() - paid_ago
    return make_order(
        partner=partner, seller=seller, lines=[(sku.code, quantity)], placed_at=paid_at, paid_at=paid_at, **kwargs
    )


def awaiting_order(shop, *, quantity: int = 2):
    """An order whose hold ended: it now waits for the seller's payment (effects run, as with the timer)."""
    order = held_order(shop, quantity=quantity, paid_ago=timedelta(hours=2))
    with transaction.atomic():
        order_end_hold(order=lock_order(order.pk), actor=SYSTEM)
    order.refresh_from_db()
    return order
