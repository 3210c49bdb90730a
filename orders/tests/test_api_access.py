"""Who may call the API and see what: API keys (401) and tenant isolation between partners (404/400)."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import PartnerApiKey
from accounts.tests.factories import PartnerFactory, SellerFactory, make_api_key
from fulfillment.models import Stock
from fulfillment.tests.factories import make_sku
from orders.models import Order, OrderEvent
from orders.tests.factories import make_order, order_request_body


def client_with(authorization=None):
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client


@pytest.fixture
def other_partner(db):
    """Partner B, with its own seller, SKU and one order."""
    seller = SellerFactory(code="BRAVO")
    partner = PartnerFactory(name="Connector B", sellers=[seller])
    make_sku(seller=seller, code="MUG", on_hand=5)
    partner.order = make_order(partner=partner, seller=seller, lines=[("MUG", 2)], external_id="B-1")
    partner.client = client_with(f"Api-Key {make_api_key(partner)}")
    return partner


ENDPOINTS = [
    ("get", "/api/v1/ping/"),
    ("get", "/api/v1/orders/"),
    ("post", "/api/v1/orders/"),
    ("get", "/api/v1/orders/1/"),
    ("post", "/api/v1/orders/1/buyer-payment/"),
    ("post", "/api/v1/orders/1/cancel/"),
    ("get", "/api/v1/stock/"),
]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Api-Key",
        "Api-Key ",
        "Api-Key garbage",
        "Api-Key abcdefgh.wrong-secret",
        "Api-Key ........",
        "Bearer something",
        "api-key lowercase.keyword",
        "Api-Key " + "x" * 5000,
    ],
)
def test_calls_without_a_valid_key_are_401(api_key, authorization):
    client = client_with(authorization)
    for method, url in ENDPOINTS:
        response = getattr(client, method)(url, {}, format="json") if method == "post" else client.get(url)
        assert response.status_code == 401, (authorization, url, response.content)
        assert response.json()["code"] in ("not_authenticated", "authentication_failed")
        assert response["WWW-Authenticate"] == "Api-Key"
    assert not Order.objects.exists()


def test_a_key_with_the_right_prefix_but_wrong_secret_is_401(api_key):
    prefix = api_key.split(".")[0]

    response = client_with(f"Api-Key {prefix}.not-the-secret").get("/api/v1/ping/")

    assert response.status_code == 401


def test_a_revoked_key_is_401(api_key, partner):
    PartnerApiKey.objects.filter(partner=partner).update(revoked_at=timezone.now())

    assert client_with(f"Api-Key {api_key}").get("/api/v1/ping/").status_code == 401


def test_an_inactive_partner_is_401(api_key, partner):
    partner.is_active = False
    partner.save(update_fields=["is_active"])

    assert client_with(f"Api-Key {api_key}").get("/api/v1/ping/").status_code == 401


def test_ping_names_the_partner(api):
    response = api.get("/api/v1/ping/")

    assert response.status_code == 200
    assert response.json() == {"partner": "Connector A"}


def test_partner_cannot_read_another_partners_order(api, other_partner):
    response = api.get(f"/api/v1/orders/{other_partner.order.pk}/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "B-1" not in response.content.decode()


def test_partner_cannot_pay_or_cancel_another_partners_order(api, other_partner):
    order = other_partner.order
    events = OrderEvent.objects.filter(order=order).count()

    paid = api.post(
        f"/api/v1/orders/{order.pk}/buyer-payment/",
        {"status": "paid", "paid_at": timezone.now().isoformat()},
        format="json",
    )
    failed = api.post(f"/api/v1/orders/{order.pk}/buyer-payment/", {"status": "failed"}, format="json")
    cancelled = api.post(f"/api/v1/orders/{order.pk}/cancel/", {"by": "seller", "reason": "x"}, format="json")

    assert (paid.status_code, failed.status_code, cancelled.status_code) == (404, 404, 404)
    order.refresh_from_db()
    assert order.status == "pending_payment"
    assert OrderEvent.objects.filter(order=order).count() == events
    assert Stock.objects.get(sku__code="MUG").reserved == 2


def test_a_bad_body_for_another_partners_order_is_still_404(api, other_partner):
    """The order is looked up first, so a partner learns nothing about other partners' ids from 400s."""
    response = api.post(f"/api/v1/orders/{other_partner.order.pk}/cancel/", {"by": "nobody"}, format="json")

    assert response.status_code == 404


def test_list_never_shows_another_partners_orders(api, partner, seller, sku, other_partner):
    mine = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])

    listed = api.get("/api/v1/orders/").json()["results"]
    by_external_id = api.get("/api/v1/orders/", {"external_id": "B-1"}).json()["results"]
    by_seller = api.get("/api/v1/orders/", {"seller": "BRAVO"}).json()["results"]

    assert [o["id"] for o in listed] == [mine.pk]
    assert by_external_id == by_seller == []


def test_partner_cannot_create_an_order_for_a_seller_it_is_not_linked_to(api, sku, other_partner):
    response = api.post(
        "/api/v1/orders/",
        order_request_body(seller="BRAVO", lines=[{"sku": "MUG", "quantity": 1, "unit_price": "3.00"}]),
        format="json",
    )

    assert response.status_code == 400
    assert "seller" in response.json()["errors"]
    assert Order.objects.filter(partner__name="Connector A").count() == 0
    assert Stock.objects.get(sku__code="MUG").reserved == 2


def test_both_partners_may_act_for_a_shared_seller_but_see_only_their_own_orders(api, partner, seller, sku):
    shared = PartnerFactory(name="Connector C", sellers=[seller])
    theirs = make_order(partner=shared, seller=seller, lines=[("TSHIRT-M", 1)])
    mine = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])

    listed = [o["id"] for o in api.get("/api/v1/orders/").json()["results"]]

    assert listed == [mine.pk]
    assert api.get(f"/api/v1/orders/{theirs.pk}/").status_code == 404
