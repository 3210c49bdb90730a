"""POST /api/v1/orders/{id}/buyer-payment/ and /cancel/: the buyer's payment, the hold, and cancellation."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from fulfillment.models import Stock
from orders.models import Order, OrderEvent
from orders.tests.factories import make_order
from orders.timers import process_due_orders


def pay_url(order):
    return f"/api/v1/orders/{order.pk}/buyer-payment/"


def cancel_url(order):
    return f"/api/v1/orders/{order.pk}/cancel/"


def test_paid_puts_the_order_on_hold_for_sixty_minutes_from_payment(api, partner, seller, sku):
    order = make_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], placed_at=timezone.now() - timedelta(hours=2)
    )
    paid_at = timezone.now() - timedelta(minutes=15)

    response = api.post(pay_url(order), {"status": "paid", "paid_at": paid_at.isoformat()}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "on_hold"
    assert body["marketplace_status"] == "ON_HOLD"
    order.refresh_from_db()
    assert order.buyer_paid_at == paid_at
    assert order.hold_until == paid_at + timedelta(minutes=60)
    assert body["hold_until"] == (paid_at + timedelta(minutes=60)).isoformat().replace("+00:00", "Z")


def test_a_repeated_paid_changes_nothing(api, partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    paid_at = timezone.now()
    api.post(pay_url(order), {"status": "paid", "paid_at": paid_at.isoformat()}, format="json")
    events = OrderEvent.objects.filter(order=order).count()

    again = api.post(
        pay_url(order), {"status": "paid", "paid_at": (paid_at - timedelta(minutes=1)).isoformat()}, format="json"
    )

    assert again.status_code == 200
    order.refresh_from_db()
    assert order.buyer_paid_at == paid_at
    assert OrderEvent.objects.filter(order=order).count() == events


def test_failed_is_recorded_and_the_order_stays_unpaid(api, partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])

    response = api.post(pay_url(order), {"status": "failed"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "pending_payment"
    assert response.json()["hold_until"] is None
    assert OrderEvent.objects.filter(order=order, action="buyer_payment_failed").count() == 1
    assert Stock.objects.get(sku=sku).reserved == 1


def test_paid_in_the_future_is_a_field_error(api, partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    soon = timezone.now() + timedelta(minutes=4)
    later = timezone.now() + timedelta(minutes=6)

    refused = api.post(pay_url(order), {"status": "paid", "paid_at": later.isoformat()}, format="json")

    assert refused.status_code == 400
    assert "paid_at" in refused.json()["errors"]
    order.refresh_from_db()
    assert order.status == "pending_payment"
    # A partner's clock a little ahead of ours is tolerated.
    assert api.post(pay_url(order), {"status": "paid", "paid_at": soon.isoformat()}, format="json").status_code == 200


def test_bad_payment_bodies_are_field_errors(api, partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    cases = [
        ({"status": "paid"}, "paid_at"),
        ({"status": "paid", "paid_at": "soon"}, "paid_at"),
        ({"status": "failed", "paid_at": timezone.now().isoformat()}, "paid_at"),
        ({"status": "refunded"}, "status"),
        ({}, "status"),
    ]
    for body, field in cases:
        response = api.post(pay_url(order), body, format="json")
        assert response.status_code == 400, body
        assert field in response.json()["errors"], body
    order.refresh_from_db()
    assert order.status == "pending_payment"


def test_paid_before_the_order_was_placed_is_refused(api, partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])

    response = api.post(
        pay_url(order), {"status": "paid", "paid_at": (order.placed_at - timedelta(hours=1)).isoformat()}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "paid_before_placed"


def test_paying_a_cancelled_order_is_a_conflict(api, partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    api.post(cancel_url(order), {"by": "buyer", "reason": "changed mind"}, format="json")

    response = api.post(pay_url(order), {"status": "paid", "paid_at": timezone.now().isoformat()}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "not_pending_payment"


def test_buyer_cancel_during_the_hold_cancels_and_releases_stock(api, partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 4)], paid_at=timezone.now())
    assert Stock.objects.get(sku=sku).reserved == 4

    response = api.post(cancel_url(order), {"by": "buyer", "reason": "ordered by mistake"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["marketplace_status"] == "CANCELLED"
    assert body["cancelled_by"] == "buyer"
    assert body["cancel_reason"] == "ordered by mistake"
    assert body["lines"][0]["reserved"] == 0
    assert body["lines"][0]["reservation"]["released_at"] is not None
    assert Stock.objects.get(sku=sku).reserved == 0


def test_platform_cancel_of_an_unpaid_order(api, partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])

    response = api.post(cancel_url(order), {"by": "platform", "reason": "fraud"}, format="json")

    assert response.status_code == 200
    assert response.json()["cancelled_by"] == "platform"


def _past_the_hold(partner, seller):
    """An order whose hold ended: it now awaits the seller's checkout."""
    paid_at = timezone.now() - timedelta(minutes=61)
    order = make_order(
        partner=partner,
        seller=seller,
        lines=[("TSHIRT-M", 2)],
        placed_at=paid_at - timedelta(minutes=5),
        paid_at=paid_at,
    )
    process_due_orders(now=timezone.now())
    order.refresh_from_db()
    assert order.status == "awaiting_checkout"
    return order


def test_buyer_cancel_after_the_hold_becomes_a_request_for_the_seller(api, partner, seller, sku):
    order = _past_the_hold(partner, seller)

    response = api.post(cancel_url(order), {"by": "buyer", "reason": "too slow"}, format="json")

    assert response.status_code == 202
    body = response.json()
    assert (body["order"], body["status"], body["marketplace_status"]) == (
        order.pk,
        "pending",
        "CANCELLATION_REQUEST_PENDING",
    )
    order.refresh_from_db()
    assert order.status == "awaiting_checkout"
    assert Stock.objects.get(sku=sku).reserved == 2

    again = api.post(cancel_url(order), {"by": "buyer", "reason": "too slow"}, format="json")
    assert again.status_code == 202
    assert again.json()["id"] == body["id"]


def test_buyer_cancel_at_the_last_minute_of_the_hold_is_still_free(api, partner, seller, sku):
    paid_at = timezone.now()
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], paid_at=paid_at)

    with time_machine.travel(paid_at + timedelta(minutes=59), tick=False):
        process_due_orders(now=timezone.now())
        response = api.post(cancel_url(order), {"by": "buyer"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


def test_seller_cancel_after_the_hold_is_allowed(api, partner, seller, sku):
    order = _past_the_hold(partner, seller)

    response = api.post(cancel_url(order), {"by": "seller", "reason": "out of stock"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert Stock.objects.get(sku=sku).reserved == 0


def test_cancelling_twice_changes_nothing(api, partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    first = api.post(cancel_url(order), {"by": "buyer", "reason": "a"}, format="json")
    events = OrderEvent.objects.filter(order=order).count()

    again = api.post(cancel_url(order), {"by": "seller", "reason": "b"}, format="json")

    assert again.status_code == 200
    assert again.json()["cancelled_by"] == first.json()["cancelled_by"] == "buyer"
    assert OrderEvent.objects.filter(order=order).count() == events


def test_bad_cancel_bodies_are_field_errors(api, partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    for body, field in [
        ({}, "by"),
        ({"by": "staff"}, "by"),
        ({"by": "system"}, "by"),
        ({"by": "buyer", "reason": "x" * 501}, "reason"),
    ]:
        response = api.post(cancel_url(order), body, format="json")
        assert response.status_code == 400, body
        assert field in response.json()["errors"], body
    assert Order.objects.get(pk=order.pk).status == "pending_payment"
