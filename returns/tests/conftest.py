"""Fixtures of the reverse-flow tests: orders past their hold, and the payments app's Stripe emulator."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import Partner
from core.actors import Actor
from fulfillment.tests.factories import CarrierFactory, warehouse_actor
from orders.locks import lock_order
from orders.services import order_end_hold
from orders.tests.factories import make_order, make_ready_order
from payments.tests.conftest import *  # noqa: F403 - localstripe, the ``shop`` with a SKU, card helpers

SYSTEM = Actor.system("test")


def past_hold(partner, seller, *, lines=(("TSHIRT-M", 2),), **kwargs):
    """An order the buyer paid two hours ago: its hold is over and it awaits the seller's checkout."""
    paid_at = timezone.now() - timedelta(hours=2)
    order = make_order(partner=partner, seller=seller, lines=list(lines), placed_at=paid_at, paid_at=paid_at, **kwargs)
    with transaction.atomic():
        order_end_hold(order=lock_order(order.pk), actor=SYSTEM)
    order.refresh_from_db()
    return order


def picking(partner, seller, *, lines=(("TSHIRT-M", 2),)):
    """A paid order the warehouse started picking (``in_fulfillment``, parcel ``picking``)."""
    from fulfillment.services import shipment_start_picking

    order = make_ready_order(partner=partner, seller=seller, lines=list(lines))
    shipment_start_picking(order_id=order.pk, actor=warehouse_actor())
    order.refresh_from_db()
    return order


def label(order, carrier, number: str = "TRK00000001"):
    """Pack and label a picking order: it is ``shipped`` (R5: pending requests are rejected)."""
    from fulfillment.services import shipment_label, shipment_pack

    actor = warehouse_actor()
    shipment_pack(order_id=order.pk, actor=actor)
    shipment_label(order_id=order.pk, carrier=carrier, tracking_number=number, handover_method="pickup", actor=actor)
    order.refresh_from_db()
    return order


def subscribe(partner: Partner) -> Partner:
    """Give ``partner`` a webhook URL, so events for it are written to the outbox."""
    Partner.objects.filter(pk=partner.pk).update(
        webhook_url="https://partner.example/hooks", webhook_secret="whsec_test"
    )
    partner.refresh_from_db()
    return partner


@pytest.fixture
def carrier(db):
    return CarrierFactory(code="testpost", name="Test Post")
