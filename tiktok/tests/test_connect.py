"""Connecting a shop: the portal's OAuth flow (without a browser), the operations command, disconnecting."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.tests.factories import SellerFactory, SellerUserFactory
from tiktok.models import Shop, ShopStatus
from tiktok.tests.conftest import APP_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(client, tt_seller):
    client.force_login(SellerUserFactory(username="acme-clerk", seller=tt_seller))
    return client


def _authorise(tiktok, location: str, open_id: str) -> str:
    """What the seller does on TikTok's page: authorise; returns where TikTok sends them back."""
    query = parse_qs(urlsplit(location).query)
    assert query["app_key"] == [APP_KEY]
    answer = requests.post(
        f"{tiktok.url}/oauth/authorize",
        data={"open_id": open_id, "state": query["state"][0]},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    return answer.headers["Location"]


def test_the_seller_connects_a_shop_through_tiktoks_authorisation(tiktok, portal, tt_seller):
    tt_shop = tiktok.shop(name="Acme on TikTok")
    tiktok.control("config", {"redirect_url": "http://testserver" + reverse("portal:tiktok_callback")})
    page = portal.get(reverse("portal:tiktok"))
    assert "No TikTok shop is connected yet." in page.content.decode()

    start = portal.post(reverse("portal:tiktok_connect"))
    assert start.status_code == 302 and start["Location"].startswith(f"{tiktok.url}/oauth/authorize?")
    back = _authorise(tiktok, start["Location"], tt_shop["open_id"])
    done = portal.get(back, follow=True)

    shop = Shop.objects.get()
    assert (shop.seller, shop.shop_id, shop.shop_cipher, shop.status) == (
        tt_seller,
        tt_shop["id"],
        tt_shop["cipher"],
        ShopStatus.ACTIVE,
    )
    assert shop.partner.name == "TikTok Shop Acme on TikTok"
    assert list(shop.partner.sellers.all()) == [tt_seller]
    text = done.content.decode()
    assert "Connected: Acme on TikTok" in text
    assert "Connected" in text and "Not yet" in text  # state, and no sync yet
    assert shop.access.access_token not in text


def test_a_callback_not_started_in_this_session_is_refused(tiktok, portal, client, tt_seller):
    tt_shop = tiktok.shop()
    tiktok.control("config", {"redirect_url": "http://testserver" + reverse("portal:tiktok_callback")})
    start = portal.post(reverse("portal:tiktok_connect"))
    back = _authorise(tiktok, start["Location"], tt_shop["open_id"])

    other = SellerUserFactory(username="other-clerk", seller=SellerFactory(code="OTHER"))
    client.logout()
    client.force_login(other)
    answer = client.get(back, follow=True)
    assert "was not started here" in answer.content.decode()
    forged = client.get(reverse("portal:tiktok_callback") + "?code=x&state=forged", follow=True)
    assert "not valid or has expired" in forged.content.decode()
    assert Shop.objects.count() == 0


def test_a_used_code_is_refused_with_tiktoks_reason(tiktok, portal):
    tt_shop = tiktok.shop()
    tiktok.control("config", {"redirect_url": "http://testserver" + reverse("portal:tiktok_callback")})
    start = portal.post(reverse("portal:tiktok_connect"))
    back = _authorise(tiktok, start["Location"], tt_shop["open_id"])
    portal.get(back)
    # The same code again, in a new attempt: TikTok refuses it; the shop stays connected once.
    second = portal.post(reverse("portal:tiktok_connect"))
    state = parse_qs(urlsplit(second["Location"]).query)["state"][0]
    code = parse_qs(urlsplit(back).query)["code"][0]
    answer = portal.get(reverse("portal:tiktok_callback"), {"code": code, "state": state}, follow=True)
    assert "TikTok did not accept the authorisation: can not find related auth record." in answer.content.decode()
    assert Shop.objects.count() == 1


def test_the_seller_disconnects_a_shop_and_nothing_is_deleted(tiktok, portal, shop):
    answer = portal.post(reverse("portal:tiktok_disconnect", args=[shop.pk]), follow=True)
    assert "is disconnected" in answer.content.decode()
    shop.refresh_from_db()
    assert shop.status == ShopStatus.DEAUTHORISED
    assert shop.events.get(action="deauthorised").actor == "seller:acme-clerk"
    assert Shop.objects.count() == 1


def test_another_sellers_shop_cannot_be_disconnected(tiktok, client, shop):
    client.force_login(SellerUserFactory(username="other-clerk", seller=SellerFactory(code="OTHER")))
    assert client.post(reverse("portal:tiktok_disconnect", args=[shop.pk])).status_code == 404
    shop.refresh_from_db()
    assert shop.status == ShopStatus.ACTIVE


def test_the_command_connects_a_shop_with_its_tokens_and_checks_them(tiktok, tt_seller, capsys):
    tt_shop = tiktok.shop(name="Ops shop")
    grant = tiktok.control(f"shops/{tt_shop['id']}/grant")
    call_command(
        "tiktok_connect",
        "--seller",
        "ACME",
        "--shop-id",
        tt_shop["id"],
        "--shop-cipher",
        grant["cipher"],
        "--access-token",
        grant["access_token"],
        "--refresh-token",
        grant["refresh_token"],
    )
    assert "Ops shop" in capsys.readouterr().out
    shop = Shop.objects.get()
    assert (shop.name, shop.region, shop.access.access_token) == ("Ops shop", "US", grant["access_token"])
    assert shop.token_refresh_at is not None  # no expiry given: refreshed on the next pass

    with pytest.raises(CommandError, match="refused the access token"):
        call_command(
            "tiktok_connect",
            "--seller=ACME",
            f"--shop-id={tt_shop['id']}",
            "--shop-cipher=c",
            "--access-token=wrong",
            "--refresh-token=r",
        )
    with pytest.raises(CommandError, match="No seller"):
        call_command(
            "tiktok_connect", "--seller=NOPE", "--shop-id=1", "--shop-cipher=c", "--access-token=a", "--refresh-token=r"
        )
