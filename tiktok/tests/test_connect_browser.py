"""The OAuth connect flow end to end, in Chromium: the portal, TikTok's page (the emulator), back to the portal."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from accounts.tests.factories import SellerUserFactory
from tiktok.models import Shop, ShopStatus

# The launch arguments (the distribution's Chromium) and the ORM/Playwright fixture live in the root conftest.py.
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("allow_orm_beside_playwright")]


@pytest.fixture
def seller_login(transactional_db, tt_seller):
    SellerUserFactory(username="acme-clerk", seller=tt_seller)
    return "acme-clerk", "pass-word-123"


def test_a_seller_connects_a_tiktok_shop_in_the_browser(page: Page, live_server, tiktok, seller_login):
    tt_shop = tiktok.shop(name="Acme on TikTok", seller_name="Acme TikTok account")
    tiktok.control("config", {"redirect_url": f"{live_server.url}{reverse('portal:tiktok_callback')}"})

    page.goto(f"{live_server.url}/portal/login/")
    page.get_by_label("Username").fill(seller_login[0])
    page.get_by_label("Password").fill(seller_login[1])
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="TikTok").click()
    expect(page.get_by_test_id("tiktok-none")).to_be_visible()

    page.get_by_role("button", name="Connect TikTok Shop").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(tiktok.url)}/oauth/authorize\?app_key="))
    page.get_by_role("button", name="Authorise as Acme TikTok account").click()

    expect(page).to_have_url(f"{live_server.url}{reverse('portal:tiktok')}")
    expect(page.get_by_test_id("messages")).to_contain_text("Connected: Acme on TikTok")
    row = page.get_by_test_id("tiktok-shops").get_by_role("row", name=re.compile("Acme on TikTok"))
    expect(row.get_by_test_id("tiktok-shop-status")).to_have_text("Connected")
    expect(row).to_contain_text("Not yet")
    shop = Shop.objects.get()
    assert (shop.shop_id, shop.status) == (tt_shop["id"], ShopStatus.ACTIVE)
