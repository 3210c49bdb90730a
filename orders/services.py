"""Order writes: one function per business action (intake, buyer payment, hold, cancel, seller payment).

Every service follows the same shape: open a transaction, lock and re-read the
order, return early if the action is already done, check the transition, save
with ``update_fields``, write the audit row, and defer side effects to commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import can_proceed
from django_fsm_log.helpers import FSMLogDescriptor

from backoffice import sql
from core.actors import Actor
from core.errors import InvalidInput, PermissionRefused, TransitionRefused
from backoffice.models import Partner, Seller
from fulfillment.services import (
    shipment_cancel_for_order,
    stock_lock_by_code,
    stock_release_for_order,
    stock_reservation_writes,
)
from orders.effects import order_status_changed
from orders.locks import lock_order
from orders.models import CancelledBy, Order, OrderEvent, OrderLine, OrderStatus
from orders.selectors import partner_seller_id, partner_seller_source

logger = logging.getLogger(__name__)
S = OrderStatus

UNKNOWN_SELLER = "Unknown seller, or not one this partner may act for."

# Statuses in which nothing has left the warehouse, so the seller may still cancel (R6).
NOT_SHIPPED = {S.PENDING_PAYMENT, S.ON_HOLD, S.AWAITING_CHECKOUT, S.READY_TO_FULFILL, S.IN_FULFILLMENT}
# Statuses during which the buyer or the platform may cancel without approval (R3).
BEFORE_HOLD_ENDS = {S.PENDING_PAYMENT, S.ON_HOLD}


def order_event_record(*, order: Order, action: str, from_status: str, actor: Actor, reason: str = "") -> OrderEvent:
    """Write the audit row for an action on ``order`` (its status is the 'to' side)."""
    event = _order_event(order=order, action=action, from_status=from_status, actor=actor, reason=reason)
    sql.rows_insert([event])  # every action writes one: the plain INSERT, without the ORM's compiling
    return event


def _order_event(*, order: Order, action: str, from_status: str, actor: Actor, reason: str = "") -> OrderEvent:
    return OrderEvent(
        order=order,
        action=action,
        from_status=from_status,
        to_status=order.status,
        actor=str(actor)[:250],
        user=actor.user,
        reason=reason[:500],
    )


def order_transition_apply(
    order: Order, name: str, *, actor: Actor, fields: list[str], reason: str = "", args: dict | None = None
) -> None:
    """Run transition ``name`` on a locked order, save the fields it touched, audit it, and tell
    the apps that react to status changes (``orders.effects``).

    Every app's services move orders through this one function. Precondition:
    the caller holds the order's row lock inside ``transaction.atomic()``.
    Raises TransitionRefused when the order's state or a condition forbids it.
    """
    method = getattr(order, name)
    if not can_proceed(method):
        raise TransitionRefused(f"Order {order.pk} is {order.status}; cannot {name.replace('_', ' ')} now.")
    from_status = order.status
    with FSMLogDescriptor(order, "by", actor.user), FSMLogDescriptor(order, "description", reason or str(actor)):
        method(**(args or {}))
    order.save(update_fields=["status", "updated_at", *fields])
    order_event_record(order=order, action=name, from_status=from_status, actor=actor, reason=reason)
    order_status_changed(order=order, from_status=from_status, action=name, actor=actor)


# --- intake -------------------------------------------------------------------------


@dataclass
class IntakeLine:
    sku: str
    quantity: int
    unit_price: int


@dataclass
class IntakeData:
    external_id: str
    seller_code: str
    placed_at: datetime
    buyer_paid_at: datetime | None
    lines: list[IntakeLine]
    buyer: dict = field(default_factory=dict)
    shipping_address: dict = field(default_factory=dict)


def order_intake(*, partner: Partner, data: IntakeData, actor: Actor) -> tuple[Order, bool]:
    """Accept an order from a partner; return ``(order, created)``.

    Repeating an ``external_id`` returns the existing order untouched. Intake
    never fails for stock (R1): it reserves what is there and flags the rest.
    The seller must be one ``partner`` may act for (``partner_seller_get``):
    else InvalidInput with code ``unknown_seller``, and nothing is written.
    """
    if not data.lines:
        raise InvalidInput("An order needs at least one line.", code="no_lines")

    # The insert comes first and the unique (partner, external_id) constraint
    # tells a repeat apart: a new order, the common case, costs no lookup.
    try:
        with transaction.atomic():
            order = _create_order(partner=partner, data=data, actor=actor)
    except IntegrityError:
        # Sent before (or a concurrent request with the same external_id won the constraint).
        existing = Order.objects.filter(partner=partner, external_id=data.external_id).first()
        if existing is None:
            raise
        return existing, False
    return order, True


def _create_order(*, partner: Partner, data: IntakeData, actor: Actor) -> Order:
    buyer, address = data.buyer, data.shipping_address
    # Orders, lines and their audit rows have no save() logic or signals of their own, so intake
    # writes them with plain INSERTs (``backoffice.sql``): it is the busiest write path there is.
    order = Order(
        partner=partner,
        external_id=data.external_id,
        placed_at=data.placed_at,
        payment_due_at=data.placed_at + settings.PAYMENT_WINDOW,
        **Order.sla_deadlines(data.placed_at),
        buyer_name=buyer.get("name", ""),
        buyer_phone=buyer.get("phone", ""),
        buyer_email=buyer.get("email", ""),
        ship_line1=address.get("line1", ""),
        ship_line2=address.get("line2", ""),
        ship_city=address.get("city", ""),
        ship_region=address.get("region", ""),
        ship_postal_code=address.get("postal_code", ""),
        ship_country=address.get("country", ""),
    )
    # The order row goes first, with the seller and the SKU lookup and stock lock (the order first:
    # lock order), rather than the seller being asked for in a round trip of its own. On
    # PostgreSQL the lines' keys are drawn in that same round trip, so the lines travel with the
    # reservations, the stock and the audit row in a second one; elsewhere the lines are a round
    # trip of their own in between (the reservations need their keys).
    source, params, seller_id = partner_seller_source(partner_id=partner.pk, code=data.seller_code)
    insert = sql.insert_from(order, computed={"seller_id": seller_id}, source=source, params=params)
    line_pks = sql.next_pks(OrderLine, len(data.lines))
    skus, stocks = stock_lock_by_code(
        seller_id=partner_seller_id(partner_id=partner.pk, code=data.seller_code),
        codes=(ln.sku for ln in data.lines),
        send_first=(insert, line_pks),
    )
    if not insert.result:  # nothing was written: the transaction has nothing to take back
        raise InvalidInput(UNKNOWN_SELLER, code="unknown_seller")
    # What the answer shows of the seller; anything else is loaded when asked for.
    order.seller = Seller.from_db(order._state.db, ["id", "code"], [order.seller_id, data.seller_code])
    lines = [
        OrderLine(order=order, sku=skus.get(ln.sku), sku_code=ln.sku, quantity=ln.quantity, unit_price=ln.unit_price)
        for ln in data.lines
    ]
    if line_pks is None:
        sql.rows_insert(lines)
        lines_insert = None
    else:
        for line, pk in zip(lines, line_pks.result, strict=True):
            line.pk = pk
        lines_insert = sql.insert(lines)
    fully_reserved, reservation_writes = stock_reservation_writes(lines=lines, stocks=stocks)
    # Hand the caller the order with its lines and their reservations as they
    # now stand (as ``prefetch_related("lines__reservation")`` would load them),
    # so an answer can be built without reading back what was just written.
    reservation_rel = OrderLine.reservation.related
    for line in lines:
        if not reservation_rel.is_cached(line):
            reservation_rel.set_cached_value(line, None)  # unknown SKU, or no stock row: no reservation
    prefetched = order.lines.all()
    prefetched._result_cache = list(lines)
    prefetched._prefetch_done = True
    order._prefetched_objects_cache = {"lines": prefetched}
    if not fully_reserved:
        order.stock_exception = True
        order.save(update_fields=["stock_exception", "updated_at"])
    event = _order_event(
        order=order,
        action="intake",
        from_status="",
        actor=actor,
        reason="stock exception: not every line could be reserved" if not fully_reserved else "",
    )
    sql.run(lines_insert, *reservation_writes, sql.insert([event]))
    if data.buyer_paid_at is not None:
        order_transition_apply(order, "mark_buyer_paid", actor=actor, fields=["buyer_paid_at", "hold_until"], args={"paid_at": data.buyer_paid_at})
    return order


# --- buyer payment ------------------------------------------------------------------


def order_record_buyer_payment(*, order_id: int, paid: bool, paid_at: datetime | None = None, actor: Actor) -> Order:
    """Record the buyer's marketplace payment: paid puts the order on hold (R3); failed is logged only.

    A repeated "paid" for an order already past payment is a no-op.
    """
    with transaction.atomic():
        order = lock_order(order_id)
        if paid:
            if order.buyer_paid_at is not None and order.status != S.CANCELLED:
                return order
            if order.status != S.PENDING_PAYMENT:
                raise TransitionRefused(f"Order {order.pk} is {order.status}; it no longer takes a buyer payment.", code="not_pending_payment")
            if paid_at < order.placed_at:
                raise InvalidInput("paid_at is before the order was placed.", code="paid_before_placed")
            order_transition_apply(order, "mark_buyer_paid", actor=actor, fields=["buyer_paid_at", "hold_until"], args={"paid_at": paid_at})
        else:
            if order.status != S.PENDING_PAYMENT:
                raise TransitionRefused(f"Order {order.pk} is {order.status}; a failed buyer payment does not apply.", code="not_pending_payment")
            order_event_record(order=order, action="buyer_payment_failed", from_status=order.status, actor=actor)
            order.save(update_fields=["updated_at"])
    return order


# --- hold ---------------------------------------------------------------------------


def order_end_hold(*, order: Order, actor: Actor) -> Order:
    """End the hold (R4). Precondition: ``order`` is locked by the caller and its hold is over."""
    order_transition_apply(order, "end_hold", actor=actor, fields=[])
    return order


# --- cancellation -------------------------------------------------------------------


def order_cancel(*, order_id: int, by: str, reason: str, actor: Actor) -> Order:
    """Cancel an order where the rules allow it without approval, releasing its stock (R7).

    ``by`` is who asks: buyer or platform (only until the hold ends, R3),
    seller or staff (anything not shipped, R6), or system (the unpaid timer, R2).
    Cancelling an order that is already cancelled is a no-op.
    """
    if by not in CancelledBy.values:
        raise InvalidInput(f"Unknown canceller {by!r}.", code="invalid_canceller")
    if by == CancelledBy.STAFF and actor.user is not None and not actor.user.has_perm("orders.cancel_order"):
        raise PermissionRefused("You do not have permission to cancel orders.")
    with transaction.atomic():
        return order_cancel_locked(order=lock_order(order_id), by=by, reason=reason, actor=actor)


def order_cancel_locked(*, order: Order, by: str, reason: str, actor: Actor) -> Order:
    """Cancel ``order``; see ``order_cancel``. Precondition: the caller holds the order's lock."""
    if order.status == S.CANCELLED:
        return order
    if order.status not in NOT_SHIPPED:
        raise TransitionRefused(f"Order {order.pk} is {order.status}; shipped orders cannot be cancelled.", code="already_shipped")
    if by in (CancelledBy.BUYER, CancelledBy.PLATFORM) and order.status not in BEFORE_HOLD_ENDS:
        if by == CancelledBy.BUYER:
            raise TransitionRefused(
                "The hold has ended: a buyer's cancellation now needs the seller's approval.", code="approval_required"
            )
        raise TransitionRefused("The hold has ended: the platform can no longer cancel on its own.", code="cancel_not_allowed")
    fields = ["cancelled_at", "cancelled_by", "cancel_reason"]
    if by == CancelledBy.SYSTEM:
        order_transition_apply(order, "cancel_unpaid", actor=actor, fields=fields, reason="unpaid")
    else:
        name, args = {
            CancelledBy.BUYER: ("cancel_by_buyer", {"reason": reason}),
            CancelledBy.PLATFORM: ("cancel_by_platform", {"reason": reason}),
        }.get(by, ("cancel_by_seller", {"by": by, "reason": reason}))
        order_transition_apply(order, name, actor=actor, fields=fields, reason=reason, args=args)
    shipment_cancel_for_order(order=order, actor=actor)
    stock_release_for_order(order=order)
    return order


# Where an approved buyer's cancellation request (R5) can still cancel the order: after the hold, before the label.
CANCELLABLE_ON_REQUEST = {S.AWAITING_CHECKOUT, S.READY_TO_FULFILL, S.IN_FULFILLMENT}


def order_cancel_on_request_locked(*, order: Order, reason: str, actor: Actor) -> Order:
    """Cancel ``order`` because its buyer's cancellation request was approved (R5), like
    ``order_cancel_locked``: a parcel being picked or packed is closed and the stock goes back;
    the status-change effects refund the seller's wholesale payment and tell the partner.

    Precondition: the caller holds the order's lock (``returns.services.cancellations``
    approves the request in the same transaction). Raises TransitionRefused
    ``already_shipped`` once the order is labelled.
    """
    if order.status not in CANCELLABLE_ON_REQUEST:
        raise TransitionRefused(
            f"Order {order.pk} is {order.status}; a cancellation request can no longer cancel it.",
            code="already_shipped" if order.status not in NOT_SHIPPED and order.status != S.CANCELLED else "not_cancellable",
        )
    fields = ["cancelled_at", "cancelled_by", "cancel_reason"]
    order_transition_apply(
        order, "cancel_on_buyer_request", actor=actor, fields=fields, reason=reason, args={"reason": reason}
    )
    shipment_cancel_for_order(order=order, actor=actor)
    stock_release_for_order(order=order)
    return order


# --- the seller's wholesale payment, recorded by hand --------------------------------


def order_record_seller_payment(*, order_id: int, reference: str, actor: Actor) -> Order:
    """Record that the seller paid the wholesale cost outside Stripe (e.g. a bank transfer).

    In ``awaiting_checkout`` the order becomes ``ready_to_fulfill`` at once; during
    the hold the payment is noted and takes effect when the hold ends (R4).
    Requires the ``orders.record_seller_payment`` permission (Finance).
    """
    if actor.user is None or not actor.user.has_perm("orders.record_seller_payment"):
        raise PermissionRefused("Only Finance may record a seller's payment.")
    reference = (reference or "").strip()
    if not reference:
        raise InvalidInput("Give the payment reference (e.g. the bank transfer id).", code="reference_required")
    with transaction.atomic():
        order = lock_order(order_id)
        if order.seller_paid_at is not None:
            return order
        if order.status not in (S.ON_HOLD, S.AWAITING_CHECKOUT):
            raise TransitionRefused(
                f"Order {order.pk} is {order.status}; a seller payment is only taken during the hold or while awaiting checkout.",
                code="seller_payment_not_expected",
            )
        order.seller_paid_at = timezone.now()
        order.seller_payment_reference = reference[:200]
        fields = ["seller_paid_at", "seller_payment_reference"]
        if order.status == S.AWAITING_CHECKOUT:
            order_transition_apply(order, "confirm_seller_payment", actor=actor, fields=fields, reason=f"payment {reference}")
        else:
            order.save(update_fields=[*fields, "updated_at"])
            order_event_record(
                order=order, action="seller_payment_recorded", from_status=order.status, actor=actor,
                reason=f"payment {reference}; takes effect when the hold ends",
            )
    return order
