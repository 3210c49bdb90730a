"""Fixtures shared by every app's tests."""

import os

import pytest

from accounts.tests.factories import PartnerFactory, SellerFactory, make_api_key
from fulfillment.tests.factories import make_sku


@pytest.fixture
def seller(db):
    return SellerFactory(code="ACME", name="Acme Goods")


@pytest.fixture
def partner(seller):
    return PartnerFactory(name="Connector A", sellers=[seller])


@pytest.fixture
def api_key(partner):
    return make_api_key(partner)


@pytest.fixture
def api(api_key):
    """A DRF test client authenticated as ``partner``."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
    return client


@pytest.fixture
def sku(seller):
    return make_sku(seller=seller, code="TSHIRT-M", on_hand=10)


# --- browser tests (pytest-playwright driving the distribution's Chromium) ------------------


@pytest.fixture(scope="session")
def allow_orm_beside_playwright():
    """Let the ORM run in the test thread once Playwright has started.

    Playwright's sync API keeps an asyncio loop registered as running in the
    test thread from its first use until the session ends, and Django refuses
    ORM calls from a thread with a running loop. Here that refusal is a false
    alarm: the tests only arrange data, and the live server answers the browser
    from its own thread. Browser test modules request it with
    ``pytest.mark.usefixtures``, so that sessions which deselect the browser
    tests do not get the variable; it is not unset afterwards because the loop
    outlives the module.
    """
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture(scope="session")
def browser_type_launch_args():
    return {
        "executable_path": "/usr/bin/chromium",
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    }


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL row locks; set DATABASE_URL")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        skip = pytest.mark.skip(reason="about the embedded SQLite default")
        for item in items:
            if "sqlite" in item.keywords:
                item.add_marker(skip)
