"""Helpers of the return tests: delivered orders (paid by bank transfer or through Stripe), returns taken to
a given step through the services, and staff of each group."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts.tests.factories import make_staff_user
from core.actors import Actor
from fulfillment.services import shipment_record_carrier_event
from fulfillment.tests.factories import make_labelled_order, tracking_number
from returns.models import ReturnRequest
from returns.services.returns import (
    ReturnLineInput,
    return_approve,
    return_create,
    return_inspect,
    return_receive,
    return_shipment_update,
)

SYSTEM = Actor.system("test")
_numbers = iter(range(1, 10**6))


def deliver(order, *, at=None):
    """The carrier picks the labelled parcel up and delivers it (at ``at``, default now); returns the order re-read."""
    at = at or timezone.now()
    partner = Actor.for_partner(order.partner)
    shipment_record_carrier_event(order_id=order.pk, type="picked_up", at=at, actor=partner)
    shipment_record_carrier_event(order_id=order.pk, type="delivered", at=at, actor=partner)
    order.refresh_from_db()
    return order


def delivered_order(partner, seller, carrier, *, lines, **kwargs):
    """An order the seller paid by bank transfer (recorded by Finance), shipped and delivered just now."""
    order = make_labelled_order(
        partner=partner,
        seller=seller,
        lines=list(lines),
        carrier=carrier,
        number=tracking_number(next(_numbers)),
        **kwargs,
    )
    return deliver(order)


def stripe_delivered_order(emulator, shop, carrier, *, quantity: int):
    """An order of ``shop``'s MUG (12.50 each) paid by card through the Stripe emulator, then shipped and delivered."""
    from fulfillment.services import shipment_label, shipment_pack, shipment_start_picking
    from payments.selectors import seller_default_card_ids
    from payments.services import checkout_orders
    from payments.tests.conftest import add_card, awaiting_order

    _, seller, _ = shop
    order = awaiting_order(shop, quantity=quantity)
    if seller_default_card_ids(seller=seller) is None:
        add_card(emulator, seller)
    result = checkout_orders(seller=seller, order_ids=[order.pk], actor=SYSTEM)
    assert result.payment.status == "succeeded", result
    actor = warehouse()
    shipment_start_picking(order_id=order.pk, actor=actor)
    shipment_pack(order_id=order.pk, actor=actor)
    shipment_label(
        order_id=order.pk,
        carrier=carrier,
        tracking_number=tracking_number(next(_numbers)),
        handover_method="pickup",
        actor=actor,
    )
    return deliver(order), result.payment


def staff(group: str) -> Actor:
    """An Actor for a new staff user in ``group`` (Warehouse, Support or Finance), with that group's permissions
    only."""
    return Actor.for_user(make_staff_user(group))


def warehouse() -> Actor:
    return staff("Warehouse")


def request_return(
    order, *, type: str, units: dict[str, int] | None = None, external_id: str = "", actor=None
) -> ReturnRequest:
    """Ask for a return of ``units`` (SKU → quantity; default every unit) as the order's partner would."""
    units = units or {line.sku_code: line.quantity for line in order.lines.all()}
    ret, _ = return_create(
        order_id=order.pk,
        type=type,
        reason="damaged",
        external_id=external_id,
        lines=[ReturnLineInput(sku=sku, quantity=q) for sku, q in units.items()],
        actor=actor or Actor.for_partner(order.partner),
    )
    return ret


def to_received(ret: ReturnRequest, carrier, *, received: dict[str, int] | None = None) -> ReturnRequest:
    """Approve (Support), the buyer ships it back (partner), the warehouse receives ``received`` (SKU → units;
    default everything)."""
    return_approve(return_id=ret.pk, actor=staff("Support"))
    return_shipment_update(
        return_id=ret.pk,
        carrier=carrier,
        tracking_number=tracking_number(next(_numbers)),
        actor=Actor.for_partner(ret.order.partner),
    )
    lines = list(ret.lines.select_related("order_line"))
    counts = {line.pk: (received or {}).get(line.order_line.sku_code, line.quantity) for line in lines}
    return return_receive(return_id=ret.pk, received=counts, actor=warehouse())


def to_inspected(
    ret: ReturnRequest,
    carrier,
    *,
    results: dict[str, tuple[int, int]] | None = None,
    received: dict[str, int] | None = None,
) -> ReturnRequest:
    """``to_received``, then inspection: ``results`` is SKU → (resellable, damaged); default all resellable."""
    ret = to_received(ret, carrier, received=received)
    lines = list(ret.lines.select_related("order_line"))
    outcome = {line.pk: (results or {}).get(line.order_line.sku_code, (line.received_quantity, 0)) for line in lines}
    return return_inspect(return_id=ret.pk, results=outcome, actor=warehouse())


def later(minutes: int = 1):
    return timezone.now() + timedelta(minutes=minutes)
