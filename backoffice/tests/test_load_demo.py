"""``manage.py load_demo``: a new user's first look at the system must show every state, consistently."""

import io
import re

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db.models import Sum
from django.http import HttpRequest
from django.test import Client

from accounts.models import Partner, PartnerApiKey, Seller
from fulfillment.models import Reservation, Shipment, Stock
from orders.models import Order, OrderEvent
from returns.models import CancellationRequest, ReturnRequest

pytestmark = pytest.mark.django_db


def load_demo(tmp_path) -> str:
    out = io.StringIO()
    call_command("load_demo", var_dir=str(tmp_path), stdout=out)
    return out.getvalue()


def snapshot():
    return {
        "orders": list(Order.objects.order_by("pk").values_list("pk", "status", "updated_at")),
        "events": OrderEvent.objects.count(),
        "reserved": list(Stock.objects.order_by("pk").values_list("pk", "on_hand", "reserved")),
        "sellers": Seller.objects.count(),
        "partners": Partner.objects.count(),
        "keys": PartnerApiKey.objects.count(),
    }


def test_demo_covers_every_state_through_the_services(tmp_path):
    output = load_demo(tmp_path)

    statuses = set(Order.objects.values_list("status", flat=True))
    assert statuses == {
        "pending_payment",
        "on_hold",
        "awaiting_checkout",
        "ready_to_fulfill",
        "in_fulfillment",
        "shipped",
        "in_transit",
        "delivered",
        "lost",
        "cancelled",
    }
    # The history's times match the backdated order: received when placed, paid when the buyer paid.
    for order in Order.objects.exclude(buyer_paid_at=None)[:50]:
        assert order.events.get(action="intake").created_at == order.placed_at
        assert order.events.get(action="mark_buyer_paid").created_at == order.buyer_paid_at
        times = list(order.events.order_by("id").values_list("created_at", flat=True))  # in the order written
        assert times == sorted(times)
    # The warehouse's and the carrier's steps went through the shipment services.
    shipments = set(Shipment.objects.values_list("status", flat=True))
    assert shipments == {"picking", "packed", "labelled", "in_transit", "delivered", "lost"}
    for order in Order.objects.filter(status__in=["shipped", "in_transit", "delivered", "lost"]):
        assert order.shipment.tracking_number and order.shipment.carrier.tracking_number_matches(
            order.shipment.tracking_number
        )
        # Stock left the shelf at labelling: nothing of it is still reserved.
        assert not Reservation.objects.filter(line__order=order, consumed_at__isnull=True).exists()
    assert Order.objects.filter(status="delivered", return_window_ends_at__isnull=False).exists()
    # Requests waiting for the seller: cancellations after the hold (R5) and returns of delivered orders (R11).
    assert CancellationRequest.objects.filter(status="pending").count() == 4
    assert not CancellationRequest.objects.exclude(order__status__in=["awaiting_checkout", "ready_to_fulfill"]).exists()
    assert ReturnRequest.objects.filter(order__status="delivered").exists()
    assert 150 <= Order.objects.count() <= 250
    cancelled_by = set(Order.objects.filter(status="cancelled").values_list("cancelled_by", flat=True))
    assert cancelled_by == {"buyer", "platform", "system", "seller", "staff"}
    assert Order.objects.filter(status="cancelled", cancelled_by="system", cancel_reason="unpaid").exists()
    # Stock exceptions of both kinds: an unknown SKU, and a known one that ran short (R1).
    assert Order.objects.filter(stock_exception=True, lines__sku__isnull=True).exists()
    assert Order.objects.filter(stock_exception=True, lines__sku__code="LAST-UNITS").exists()
    # A seller payment taken during the hold waits for the hold to end (R4).
    assert Order.objects.filter(status="on_hold", seller_paid_at__isnull=False).exists()
    assert "Demo data loaded" in output

    # The orders went through the services: every order has its intake event
    # and one event per transition since.
    assert not Order.objects.exclude(events__action="intake").exists()
    unpaid = Order.objects.filter(cancelled_by="system").first()
    assert list(unpaid.events.values_list("action", flat=True)) == ["intake", "cancel_unpaid"]
    ready = Order.objects.filter(status="ready_to_fulfill").first()
    assert ready.events.filter(actor="staff:finance").exists()
    # Cancelled orders hold no stock; what is reserved matches the active reservations (R7).
    assert not Reservation.objects.filter(line__order__status="cancelled", released_at__isnull=True).exists()
    for stock in Stock.objects.all():
        active = Reservation.objects.filter(sku=stock.sku_id, released_at=None, consumed_at=None)
        assert stock.reserved == (active.aggregate(n=Sum("quantity"))["n"] or 0), stock
        assert 0 <= stock.reserved <= stock.on_hand


def test_demo_logins_and_api_key_work(tmp_path):
    output = load_demo(tmp_path)

    for username, password in [("admin", "admin"), ("warehouse", "warehouse-pass"), ("finance", "finance-pass")]:
        user = authenticate(HttpRequest(), username=username, password=password)
        assert user is not None and user.is_staff, username
        assert f"{username} / {password}" in output
    assert authenticate(HttpRequest(), username="finance", password="finance-pass").has_perm(
        "orders.record_seller_payment"
    )

    client = Client()
    assert client.login(request=HttpRequest(), username="acme", password="acme-pass")
    seller_user = authenticate(HttpRequest(), username="acme", password="acme-pass")
    assert not seller_user.is_staff
    assert seller_user.seller_membership.seller.code == "ACME"
    assert "acme / acme-pass" in (tmp_path / "demo_logins.txt").read_text()

    # The partner key is printed once and stored only as a digest.
    raw_key = re.search(r"API key: (\S+)", output).group(1)
    assert (tmp_path / "demo_api_key.txt").read_text().strip() == raw_key
    key = PartnerApiKey.objects.get(prefix=raw_key.split(".")[0])
    assert key.digest == PartnerApiKey.digest_for(raw_key)
    assert raw_key not in key.digest
    assert set(key.partner.sellers.values_list("code", flat=True)) == {"ACME", "GLOBEX", "INITECH"}


def test_second_run_changes_nothing(tmp_path):
    load_demo(tmp_path)
    before = snapshot()
    key_before = (tmp_path / "demo_api_key.txt").read_text()

    output = load_demo(tmp_path)

    assert output.strip() == "demo data already loaded"
    assert snapshot() == before
    assert (tmp_path / "demo_api_key.txt").read_text() == key_before
