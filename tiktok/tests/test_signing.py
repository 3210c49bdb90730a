"""Signatures and the client: TikTok's published vector, requests the emulator accepts or refuses, retries."""

import pytest

from tiktok.client import TikTokClient, TikTokError
from tiktok.signing import request_sign, webhook_signature, webhook_verify
from tiktok.tests.conftest import APP_KEY, APP_SECRET

# TikTok's published example for request signing (TIKTOK.md, "Signing a request").
VECTOR_SECRET = "e59af819cc"
VECTOR_PATH = "/authorization/202309/shops"
VECTOR_PARAMS = {"app_key": "29a39d", "timestamp": "1623812664"}
VECTOR_SIGN = "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"

# A webhook as in the public PHP SDK's webhook test (its fake app credentials and sample body): TikTok documents
# the algorithm (HMAC-SHA256 of app key + raw body, keyed with the secret) but publishes no vector of its own.
WEBHOOK_BODY = (
    b'{"type":1,"shop_id":"7494726673780148744","timestamp":1664095733,"data":{"order_id":"576684019603311365",'
    b'"order_status":"AWAITING_SHIPMENT","update_time":1664095610}}'
)
WEBHOOK_SIGNATURE = "21109834de72ec53c9959716d8514ae388ce1f123e5ffdcafc46713fcdf62b27"


def test_request_signature_reproduces_tiktoks_published_example():
    assert request_sign(app_secret=VECTOR_SECRET, path=VECTOR_PATH, params=VECTOR_PARAMS) == VECTOR_SIGN
    # ``sign`` and ``access_token`` are never part of the signed string.
    extra = {**VECTOR_PARAMS, "sign": "anything", "access_token": "secret"}
    assert request_sign(app_secret=VECTOR_SECRET, path=VECTOR_PATH, params=extra) == VECTOR_SIGN
    # The body is signed byte for byte.
    assert request_sign(app_secret=VECTOR_SECRET, path=VECTOR_PATH, params=VECTOR_PARAMS, body=b"{}") != VECTOR_SIGN


def test_webhook_signature_matches_the_sample_and_rejects_any_change():
    assert webhook_signature(app_key="fake_app_key", app_secret="fake_app_secret", body=WEBHOOK_BODY) == (
        WEBHOOK_SIGNATURE
    )
    assert webhook_verify(
        app_key="fake_app_key", app_secret="fake_app_secret", body=WEBHOOK_BODY, signature=WEBHOOK_SIGNATURE
    )
    assert not webhook_verify(
        app_key="fake_app_key", app_secret="fake_app_secret", body=WEBHOOK_BODY + b" ", signature=WEBHOOK_SIGNATURE
    )
    assert not webhook_verify(
        app_key="fake_app_key", app_secret="other", body=WEBHOOK_BODY, signature=WEBHOOK_SIGNATURE
    )
    assert not webhook_verify(app_key="fake_app_key", app_secret="fake_app_secret", body=WEBHOOK_BODY, signature="")


def test_the_emulator_accepts_our_signed_calls_and_refuses_a_bad_signature(tiktok, shop):
    client = TikTokClient.from_settings()
    tt_order = tiktok.order(shop.tiktok_id)
    (detail,) = client.orders_get(shop.access, ids=[tt_order["id"]])
    assert detail["status"] == "UNPAID"

    forger = TikTokClient.from_settings(app_secret="not-the-secret")
    with pytest.raises(TikTokError) as refused:
        forger.orders_get(shop.access, ids=[tt_order["id"]])
    assert (refused.value.code, refused.value.http_status) == (106001, 401)
    assert not refused.value.retryable


def test_an_unknown_token_is_refused_as_a_token_problem(tiktok, shop):
    client = TikTokClient.from_settings()
    with pytest.raises(TikTokError) as refused:
        client.orders_get(type(shop.access)(shop_cipher=shop.shop_cipher, access_token="stolen"), ids=["1"])
    assert refused.value.token_problem


@pytest.mark.parametrize(("http_status", "code"), [(429, 36009002), (200, 36009002), (503, 36009003)])
def test_rate_limits_and_server_errors_are_retried_after_a_backoff(tiktok, shop, http_status, code):
    tt_order = tiktok.order(shop.tiktok_id)
    tiktok.control("failures", {"path": "/order/202309/orders", "http_status": http_status, "code": code, "times": 2})
    waits = []
    client = TikTokClient.from_settings(backoff=[1.0, 2.0, 4.0], sleep=waits.append)
    (detail,) = client.orders_get(shop.access, ids=[tt_order["id"]])
    assert detail["id"] == tt_order["id"]
    assert waits == [1.0, 2.0]


def test_retries_give_up_after_the_last_backoff(tiktok, shop):
    tiktok.control("failures", {"path": "/order/202309/orders", "http_status": 429, "times": 5})
    waits = []
    client = TikTokClient.from_settings(backoff=[1.0, 2.0], sleep=waits.append)
    with pytest.raises(TikTokError) as refused:
        client.orders_get(shop.access, ids=["576460000000000001"])
    assert refused.value.http_status == 429
    assert waits == [1.0, 2.0]


def test_an_unreachable_host_is_a_retryable_error(settings):
    waits = []
    client = TikTokClient(
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        api_base="http://127.0.0.1:9",
        auth_base="http://127.0.0.1:9",
        timeout=1,
        backoff=[0.5],
        sleep=waits.append,
    )
    with pytest.raises(TikTokError) as refused:
        client.authorized_shops(access_token="t")
    assert refused.value.http_status is None and refused.value.retryable
    assert waits == [0.5]
