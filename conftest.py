"""Fixtures shared by every app's tests."""

import pytest
from django.db import connection

from backoffice.tests.factories import PartnerFactory, SellerFactory, make_api_key, make_sku


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


def _is_postgres():
    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL row locks; set DATABASE_URL")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)
