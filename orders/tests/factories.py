"""Orders for tests, made through the same services the API uses."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.tests.factories import UserFactory
from core.actors import Actor
from orders.locks import lock_order
from orders.services import IntakeData, IntakeLine, order_end_hold, order_intake
from payments.services import bank_transfer_record


def make_order(*, partner, seller, lines, external_id=None, placed_at=None, paid_at=None, buyer=None, address=None):
    """Create an order through the intake service, exactly as the API does.

    ``lines`` is a list of ``(sku_code, quantity)`` or ``(sku_code, quantity, unit_price)``.
    """
    placed_at = placed_at or timezone.now()
    make_order.counter += 1
    data = IntakeData(
        external_id=external_id or f"EXT-{make_order.counter}-{timezone.now().timestamp()}",
        seller_code=seller.code,
        placed_at=placed_at,
        buyer_paid_at=paid_at,
        lines=[IntakeLine(sku=ln[0], quantity=ln[1], unit_price=ln[2] if len(ln) > 2 else 1999) for ln in lines],
        buyer=buyer or {"name": "Jane Doe", "phone": "+1 555 010 1234", "email": "jane@example.com"},
        shipping_address=address
        or {
            "line1": "1 Main St",
            "line2": "",
            "city": "Austin",
            "region": "TX",
            "postal_code": "73301",
            "country": "US",
        },
    )
    order, _ = order_intake(partner=partner, data=data, actor=Actor.for_partner(partner))
    return order


make_order.counter = 0


def order_request_body(**overrides) -> dict:
    """A valid ``POST /api/v1/orders/`` body for seller ``ACME`` and SKU ``TSHIRT-M`` (the conftest fixtures).

    Keyword arguments replace top-level fields; every call gets a new ``external_id``.
    """
    order_request_body.counter += 1
    body = {
        "external_id": f"TT-{order_request_body.counter}",
        "seller": "ACME",
        "placed_at": timezone.now().isoformat(),
        "buyer_payment": "pending",
        "buyer": {"name": "John Doe", "phone": "+1 555 010 1234", "email": "john.doe@example.com"},
        "shipping_address": {
            "line1": "42 Elm Street",
            "line2": "Apt 7",
            "city": "Austin",
            "region": "TX",
            "postal_code": "73301",
            "country": "US",
        },
        "lines": [{"sku": "TSHIRT-M", "quantity": 2, "unit_price": "19.99"}],
    }
    body.update(overrides)
    return body


order_request_body.counter = 0


def make_ready_order(*, partner, seller, lines, placed_at=None, **kwargs):
    """An order in ``ready_to_fulfill``: placed (default two hours ago), paid by the buyer a minute
    later, the seller's payment recorded during the hold, and the hold ended, all through services."""
    placed_at = placed_at or timezone.now() - timedelta(hours=2)
    paid_at = placed_at + timedelta(minutes=1)
    order = make_order(partner=partner, seller=seller, lines=lines, placed_at=placed_at, paid_at=paid_at, **kwargs)
    finance = UserFactory(is_staff=True, is_superuser=True, username=f"finance-{order.pk}")
    bank_transfer_record(order_id=order.pk, reference=f"BANK-{order.pk}", actor=Actor.for_user(finance))
    with transaction.atomic():
        order = order_end_hold(order=lock_order(order.pk), actor=Actor.system("timer"))
    return order
