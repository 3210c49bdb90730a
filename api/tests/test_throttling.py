"""The API throttles per key and per client address, answering 429 with Retry-After."""

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import PartnerFactory, make_api_key

PING = "/api/v1/ping/"


@pytest.fixture(autouse=True)
def fresh_counts():
    cache.clear()
    yield
    cache.clear()


def client_for(key: str | None, **extra) -> APIClient:
    client = APIClient(**extra)
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_a_key_over_its_rate_gets_429_with_retry_after(api, partner, seller, settings):
    settings.API_THROTTLE_RATE_KEY = "3/minute"
    other = client_for(make_api_key(PartnerFactory(sellers=[seller])))
    start = timezone.now()

    with time_machine.travel(start, tick=False):
        statuses = [api.get(PING).status_code for _ in range(4)]
        refused = api.get(PING)
        other_key = other.get(PING)
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        later = api.get(PING)

    assert statuses == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60
    assert other_key.status_code == 200
    assert later.status_code == 200


def test_guessing_keys_from_one_address_is_throttled(api, settings):
    settings.API_THROTTLE_RATE_ADDRESS = "3/minute"
    guesser = client_for("0123abcd.not-the-key")

    statuses = [guesser.get(PING).status_code for _ in range(4)]
    good_key_same_address = api.get(PING)
    elsewhere = client_for("0123abcd.not-the-key", REMOTE_ADDR="192.0.2.8").get(PING)

    assert statuses == [401, 401, 401, 429]
    assert good_key_same_address.status_code == 429
    assert "Retry-After" in good_key_same_address
    assert elsewhere.status_code == 401


def test_behind_a_proxy_clients_are_told_apart_by_x_forwarded_for(api_key, settings):
    settings.API_THROTTLE_RATE_ADDRESS = "2/minute"
    settings.TRUSTED_PROXY_COUNT = 1
    first = client_for(api_key, HTTP_X_FORWARDED_FOR="198.51.100.1", REMOTE_ADDR="10.0.0.2")
    second = client_for(api_key, HTTP_X_FORWARDED_FOR="198.51.100.2", REMOTE_ADDR="10.0.0.2")
    # A client cannot escape by writing its own header: the proxy's entry is the last one.
    forging = client_for(api_key, HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.1", REMOTE_ADDR="10.0.0.2")

    assert [first.get(PING).status_code for _ in range(3)] == [200, 200, 429]
    assert second.get(PING).status_code == 200
    assert forging.get(PING).status_code == 429


def test_the_schema_documents_429_on_every_operation(client, db):
    import yaml

    schema = yaml.safe_load(client.get("/api/v1/schema/").content)

    for path in schema["paths"].values():
        for operation in path.values():
            assert "429" in operation["responses"], operation["operationId"]
