"""Creating orders: a partner's intake (R1), and a free replacement for a return (R11).

Both go through ``_order_create``: the order row first, then its lines, then
the stock reserved for them (the warehouse's part, through ``orders.hooks``),
then the audit row. Intake never fails for stock: it reserves what is there
and flags the rest (``stock_exception``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Partner
from core.actors import Actor
from core.errors import InvalidInput, TransitionRefused
from orders import hooks
from orders.models import Order, OrderAction, OrderLine, OrderStatus
from orders.services.transitions import order_event_record, order_status_changed, order_transition_apply

UNKNOWN_SELLER = "Unknown seller, or not one this partner may act for."
EXTERNAL_ID_MAX = Order._meta.get_field("external_id").max_length


@dataclass
class IntakeLine:
    sku: str
    quantity: int
    unit_price: int


@dataclass
class IntakeData:
    """A new order. ``shipping_address`` may be empty: a marketplace may send it later (R16), and an
    order without one cannot be labelled. ``deadlines`` are the marketplace's own, by ``Order`` field
    (``payment_due_at``, ``ship_by``, ``tracking_due``, ``collect_by``, ``deliver_by``); each one given
    replaces our fixed window (R2, R8)."""

    external_id: str
    seller_code: str
    placed_at: datetime
    buyer_paid_at: datetime | None
    lines: list[IntakeLine]
    buyer: dict = field(default_factory=dict)
    shipping_address: dict = field(default_factory=dict)
    deadlines: dict[str, datetime] = field(default_factory=dict)


def contact_fields(buyer: dict, address: dict) -> dict:
    return {
        "buyer_name": buyer.get("name", ""),
        "buyer_phone": buyer.get("phone", ""),
        "buyer_email": buyer.get("email", ""),
        "ship_line1": address.get("line1", ""),
        "ship_line2": address.get("line2", ""),
        "ship_city": address.get("city", ""),
        "ship_region": address.get("region", ""),
        "ship_postal_code": address.get("postal_code", ""),
        "ship_country": address.get("country", ""),
    }


def _order_create(
    *,
    order: Order,
    lines: list[IntakeLine],
    actor: Actor,
    action: OrderAction,
    note: str = "",
    deadlines: dict[str, datetime] | None = None,
) -> Order:
    """Insert ``order`` (new, unsaved), its lines and their reservations, and the audit row.

    ``deadlines`` given by a marketplace replace the warehouse's fixed SLA windows (R16).

    Precondition: inside ``transaction.atomic()``. The order row is written
    first, so it is the first lock this transaction holds; stock rows are
    locked after it, in pk order (the warehouse's ``reserve``).
    """
    fulfilment = hooks.fulfilment()
    for name, deadline in fulfilment.deadlines(placed_at=order.placed_at, given=deadlines or {}).items():
        setattr(order, name, deadline)
    order.save(force_insert=True)
    skus = fulfilment.skus_by_code(seller_id=order.seller_id, codes={line.sku for line in lines})
    saved = OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                sku_id=skus.get(line.sku),
                sku_code=line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
            )
            for line in lines
        ]
    )
    if not fulfilment.reserve(lines=saved):
        order.stock_exception = True
        order.save(update_fields=["stock_exception", "updated_at"])
        note = "; ".join(filter(None, [note, "stock exception: not every line could be reserved"]))
    order_event_record(order=order, action=action, from_status="", actor=actor, note=note)
    return order


def order_intake(*, partner: Partner, data: IntakeData, actor: Actor) -> tuple[Order, bool]:
    """Accept an order from a partner; return ``(order, created)``.

    Repeating an ``external_id`` returns the existing order untouched. Intake
    never fails for stock (R1): it reserves what is there and flags the rest.
    The seller must be one ``partner`` may act for: else InvalidInput with code
    ``unknown_seller``, and nothing is written. A buyer's payment in the
    intake puts the order on hold at once (R3).
    """
    if not data.lines:
        raise InvalidInput("An order needs at least one line.", code="no_lines")
    seller = partner.sellers.filter(code=data.seller_code).first()
    if seller is None:
        raise InvalidInput(UNKNOWN_SELLER, code="unknown_seller")
    order = Order(
        partner=partner,
        seller=seller,
        external_id=data.external_id,
        placed_at=data.placed_at,
        payment_due_at=data.deadlines.get("payment_due_at") or data.placed_at + settings.PAYMENT_WINDOW,
        **contact_fields(data.buyer, data.shipping_address),
    )
    # The insert comes first and the unique (partner, external_id) constraint
    # tells a repeat apart: a new order, the common case, costs no lookup.
    try:
        with transaction.atomic():
            _order_create(
                order=order, lines=data.lines, actor=actor, action=OrderAction.INTAKE, deadlines=data.deadlines
            )
            if data.buyer_paid_at is not None:
                order_transition_apply(
                    order,
                    OrderAction.MARK_BUYER_PAID,
                    actor=actor,
                    fields=["buyer_paid_at", "hold_until"],
                    args={"paid_at": data.buyer_paid_at},
                )
    except IntegrityError:
        # Sent before (or a concurrent request with the same external_id won the constraint).
        existing = Order.objects.filter(partner=partner, external_id=data.external_id).first()
        if existing is None:
            raise
        return existing, False
    return order, True


def order_replacement_create(
    *, original: Order, lines: list[tuple[str, int]], reference: str, note: str, actor: Actor
) -> Order:
    """A free re-shipment of ``lines`` (``(sku_code, quantity)``) of ``original`` (R11): a new order for
    the same partner, seller, buyer and address, external id ``<original>-<reference>``, straight
    into ``ready_to_fulfill`` with its SLA clocks counted from now and its stock reserved as at intake.

    No buyer payment to wait for and no hold (the buyer cannot cancel a free
    re-shipment), and the seller's payment for the original covers it: it never
    waits for checkout and is never charged. Raises TransitionRefused
    ``replacement_external_id_taken`` when the partner already has that id.
    Precondition: the caller holds ``original``'s lock.
    """
    suffix = f"-{reference}"
    external_id = original.external_id[: EXTERNAL_ID_MAX - len(suffix)] + suffix
    now = timezone.now()
    replacement = Order(
        partner_id=original.partner_id,
        seller_id=original.seller_id,
        external_id=external_id,
        status=OrderStatus.READY_TO_FULFILL,
        placed_at=now,
        buyer_paid_at=now,
        seller_paid_at=now,
        seller_payment_reference=f"covered: {note}"[:200],
        **{name: getattr(original, name) for name in contact_fields({}, {})},
    )
    # The buyer pays nothing for the replacement: its lines carry no price.
    wanted = [IntakeLine(sku=code, quantity=quantity, unit_price=0) for code, quantity in lines]
    try:
        with transaction.atomic():
            _order_create(
                order=replacement, lines=wanted, actor=actor, action=OrderAction.REPLACEMENT_CREATED, note=note
            )
    except IntegrityError:
        raise TransitionRefused(
            f"The partner already has an order {external_id!r}; the replacement cannot take that id.",
            code="replacement_external_id_taken",
        ) from None
    replacement.partner, replacement.seller = original.partner, original.seller
    # Partners learn of it as of any new status (``order.status_changed``); payments have nothing to do.
    order_status_changed(order=replacement, from_status="", action=OrderAction.REPLACEMENT_CREATED, actor=actor)
    return replacement
