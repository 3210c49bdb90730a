"""The TikTok Shop emulator for the tests, started once per session, and a shop connected to it.

The emulator (``devtools.tiktok_emulator``, dev tooling that the application
never imports) runs as a subprocess on a free loopback port, as localstripe does
for the payments tests. Each test resets its state. Its webhooks are not sent
on their own here (no URL is configured): ``Emulator.deliver`` posts them to our
webhook view the way TikTok would, so a test can deliver them twice, out of
order, or lose one.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from accounts.tests.factories import SellerFactory, UserFactory
from core.actors import Actor
from fulfillment.models import Carrier
from fulfillment.tests.factories import CarrierFactory, make_sku

# The Stripe emulator's fixtures (localstripe), for the refund of a checkout that TikTok cancels.
from payments.tests.conftest import emulator, localstripe_url, stripe_emulator  # noqa: F401
from tiktok.client import TikTokClient
from tiktok.marketplace import TIKTOK_LOGISTICS_CARRIER
from tiktok.models import CarrierProvider
from tiktok.services import shop_connect_oauth

ROOT = Path(__file__).resolve().parents[2]
APP_KEY, APP_SECRET = "test-app-key", "test-app-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def tiktok_emulator_url():
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.tiktok_emulator",
            "--port",
            str(port),
            "--app-key",
            APP_KEY,
            "--app-secret",
            APP_SECRET,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the TikTok emulator exited with status {proc.returncode}")
            try:
                if requests.get(f"{url}/_emulator/notifications", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the TikTok emulator did not answer within 30 s")
            time.sleep(0.05)  # waiting for a process to listen, not for business time
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Emulator:
    """The control API, and delivering the emulator's webhooks to our view by hand."""

    def __init__(self, url: str):
        self.url = url
        self.delivered = 0

    def control(self, path: str, body: dict | None = None, method: str = "POST") -> dict:
        response = requests.request(method, f"{self.url}/_emulator/{path}", json=body or {}, timeout=10)
        payload = response.json()
        assert payload["code"] == 0, payload
        return payload["data"]

    def shop(self, name: str = "Acme on TikTok", seller_name: str = "Acme TikTok account") -> dict:
        return self.control("shops", {"name": name, "region": "US", "seller_name": seller_name})

    def order(self, shop_id: str, *, lines=None, status: str = "", notify: bool = True) -> dict:
        body = {"shop_id": shop_id, "lines": lines or [{"seller_sku": "TSHIRT-M", "quantity": 2, "price": "14.50"}]}
        if status:
            body["status"] = status
        return self.control("orders", {**body, "notify": notify})

    def notifications(self) -> list[dict]:
        response = requests.get(f"{self.url}/_emulator/notifications", params={"bodies": "1"}, timeout=10).json()
        return response["data"]["notifications"]

    def pending(self) -> list[dict]:
        """Webhooks queued since the last ``deliver`` or ``drop``."""
        return self.notifications()[self.delivered :]

    def drop(self) -> list[dict]:
        """Lose every pending webhook (as when TikTok's notification never reaches us)."""
        lost = self.pending()
        self.delivered += len(lost)
        return lost

    def deliver(self, client, notes: list[dict] | None = None, *, capture=None):
        """POST webhooks (default: every pending one) to /tiktok/webhook/ as TikTok would; return the answers."""
        if notes is None:
            notes = self.pending()
            self.delivered += len(notes)
        answers = []
        for note in notes:
            post = lambda note=note: client.post(  # noqa: E731 - one call, with or without on_commit capture
                "/tiktok/webhook/", note["body"], content_type="application/json", HTTP_AUTHORIZATION=note["signature"]
            )
            if capture is not None:
                with capture(execute=True):
                    answers.append(post())
            else:
                answers.append(post())
        return answers


@pytest.fixture
def tiktok(tiktok_emulator_url, settings):
    """The emulator, reset, with our settings pointing at it."""
    settings.TIKTOK_APP_KEY, settings.TIKTOK_APP_SECRET = APP_KEY, APP_SECRET
    settings.TIKTOK_API_BASE = settings.TIKTOK_AUTH_BASE = tiktok_emulator_url
    settings.TIKTOK_RETRY_BACKOFF = []
    world = Emulator(tiktok_emulator_url)
    world.control("reset")
    world.control(
        "config",
        {
            "app_key": APP_KEY,
            "app_secret": APP_SECRET,
            "webhook_url": "",
            "redirect_url": "",
            "shipping_type": "SELLER",
        },
    )
    return world


@pytest.fixture
def tt_seller(db):
    seller = SellerFactory(code="ACME", name="Acme Goods", email="orders@acme.example")
    make_sku(seller=seller, code="TSHIRT-M", on_hand=10, wholesale_cost=650)
    return seller


def connect(world: Emulator, seller, *, name: str = "Acme on TikTok"):
    """Connect an emulator shop to ``seller`` through the OAuth code flow's service (the authorise click
    is done through the control API); returns ``(our shop, emulator shop)``."""
    tt_shop = world.shop(name=name)
    html = requests.get(f"{world.url}/oauth/authorize", params={"app_key": APP_KEY, "state": "s"}, timeout=10).text
    assert "Authorise as" in html
    world.control("config", {"redirect_url": "http://127.0.0.1/callback"})
    answer = requests.post(
        f"{world.url}/oauth/authorize",
        data={"open_id": tt_shop["open_id"], "state": "s"},
        allow_redirects=False,
        timeout=10,
    )
    code = answer.headers["Location"].split("code=")[1].split("&")[0]
    (shop,) = shop_connect_oauth(seller=seller, auth_code=code, actor=Actor.system("test"))
    return shop, tt_shop


@pytest.fixture
def shop(tiktok, tt_seller):
    ours, theirs = connect(tiktok, tt_seller)
    ours.tiktok_id = theirs["id"]
    return ours


def client_for_tests(**overrides) -> TikTokClient:
    return TikTokClient.from_settings(**overrides)


def body_of(note: dict) -> dict:
    return json.loads(note["body"])


@pytest.fixture
def staff(db):
    """A staff member with every permission, as an Actor."""
    return Actor.for_user(UserFactory(is_staff=True, is_superuser=True, username="lead"))


@pytest.fixture
def carrier(db):
    """Our carrier ``trk`` (tracking numbers ``TRK`` and 8 digits), mapped to TikTok's UPS provider."""
    carrier = CarrierFactory(code="trk", name="Track Co")
    CarrierProvider.objects.create(carrier=carrier, provider_id="7117858858072016686", provider_name="UPS")
    return carrier


@pytest.fixture(autouse=True)
def tiktok_shipping_carrier(db):
    """The carrier of TikTok-logistics orders, as migrate creates it."""
    return Carrier.objects.get(code=TIKTOK_LOGISTICS_CARRIER)
