"""An order's life after intake: the buyer's payment (R2-R3), the hold (R4), cancellation (R3, R6, R7),
the seller's wholesale payment recorded by hand (R4), and completion (R15).

Every service has the same shape: open a transaction, lock and re-read the
order, return early if the action is already done, check the transition,
save with ``update_fields``, write the audit row, and let the reactions
(stock, parcel, payments, requests, webhooks) follow in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import InvalidInput, PermissionRefused, TransitionRefused
from orders import hooks
from orders.locks import lock_order
from orders.models import (
    BEFORE_HOLD_ENDS,
    CANCELLABLE_ON_REQUEST,
    NOT_SHIPPED,
    CancelledBy,
    Order,
    OrderAction,
    OrderStatus,
)
from orders.services.transitions import order_event_record, order_touch, order_transition_apply

CANCEL_FIELDS = ["cancelled_at", "cancelled_by", "cancel_reason"]

# --- buyer payment ------------------------------------------------------------------


def order_record_buyer_payment(*, order_id: int, paid: bool, paid_at: datetime | None = None, actor: Actor) -> Order:
    """Record the buyer's marketplace payment: paid puts the order on hold (R3); failed is logged only.

    A repeated "paid" for an order already past payment is a no-op.
    """
    with transaction.atomic():
        order = lock_order(order_id)
        if paid:
            if order.buyer_paid_at is not None and order.status != OrderStatus.CANCELLED:
                return order
            if order.status != OrderStatus.PENDING_PAYMENT:
                raise TransitionRefused(
                    f"Order {order.pk} is {order.get_status_display().lower()}; it no longer takes a buyer payment.",
                    code="not_pending_payment",
                )
            if paid_at < order.placed_at:
                raise InvalidInput("paid_at is before the order was placed.", code="paid_before_placed")
            order_transition_apply(
                order,
                OrderAction.MARK_BUYER_PAID,
                actor=actor,
                fields=["buyer_paid_at", "hold_until"],
                args={"paid_at": paid_at},
            )
        else:
            if order.status != OrderStatus.PENDING_PAYMENT:
                raise TransitionRefused(
                    f"Order {order.pk} is {order.get_status_display().lower()}; a failed buyer payment does not apply.",
                    code="not_pending_payment",
                )
            order.save(update_fields=["updated_at"])
            order_event_record(
                order=order, action=OrderAction.BUYER_PAYMENT_FAILED, from_status=order.status, actor=actor
            )
    return order


# --- hold ---------------------------------------------------------------------------


def order_end_hold(*, order: Order, actor: Actor) -> Order:
    """End the hold (R4). Precondition: ``order`` is locked by the caller and its hold is over."""
    order_transition_apply(order, OrderAction.END_HOLD, actor=actor, fields=[])
    return order


# --- cancellation -------------------------------------------------------------------


def order_cancel(*, order_id: int, by: str, reason: str, actor: Actor, marketplace_confirmed: bool = False) -> Order:
    """Cancel an order where the rules allow it without approval; its stock goes back and a wholesale
    payment is refunded (R7), through the reactions.

    ``by`` is who asks: buyer or platform (only until the hold ends, R3),
    seller or staff (anything not shipped, R6), or system (the unpaid timer, R2).
    Cancelling an order that is already cancelled is a no-op.

    A marketplace order (R17) cancelled by its seller or staff is not cancelled
    here at once: the marketplace is asked (``orders.hooks.marketplace``) and the
    order stays as it is until it confirms, which calls this again with
    ``marketplace_confirmed``.
    """
    if by not in CancelledBy.values:
        raise InvalidInput(f"Unknown canceller {by!r}.", code="invalid_canceller")
    if by == CancelledBy.STAFF and actor.user is not None and not actor.user.has_perm("orders.cancel_order"):
        raise PermissionRefused("You do not have permission to cancel orders.")
    with transaction.atomic():
        return order_cancel_locked(
            order=lock_order(order_id), by=by, reason=reason, actor=actor, marketplace_confirmed=marketplace_confirmed
        )


def order_cancel_locked(
    *, order: Order, by: str, reason: str, actor: Actor, marketplace_confirmed: bool = False
) -> Order:
    """Cancel ``order``; see ``order_cancel``. Precondition: the caller holds the order's lock."""
    if order.status == OrderStatus.CANCELLED:
        return order
    if order.status not in NOT_SHIPPED:
        raise TransitionRefused(
            f"Order {order.pk} is {order.get_status_display().lower()}; shipped orders cannot be cancelled.",
            code="already_shipped",
        )
    if by in (CancelledBy.BUYER, CancelledBy.PLATFORM) and order.status not in BEFORE_HOLD_ENDS:
        if by == CancelledBy.BUYER:
            raise TransitionRefused(
                "The hold has ended: a buyer's cancellation now needs the seller's approval.", code="approval_required"
            )
        raise TransitionRefused(
            "The hold has ended: the platform can no longer cancel on its own.", code="cancel_not_allowed"
        )
    if by in (CancelledBy.SELLER, CancelledBy.STAFF) and not marketplace_confirmed:
        note = hooks.marketplace().cancel_requested(order=order, by=by, reason=reason, actor=actor)
        if note is not None:
            order_touch(order=order, action=OrderAction.CANCEL_SENT_TO_MARKETPLACE, actor=actor, note=note)
            return order
    if by == CancelledBy.SYSTEM:
        order_transition_apply(order, OrderAction.CANCEL_UNPAID, actor=actor, fields=CANCEL_FIELDS, note="unpaid")
        return order
    name, args = {
        CancelledBy.BUYER: (OrderAction.CANCEL_BY_BUYER, {"reason": reason}),
        CancelledBy.PLATFORM: (OrderAction.CANCEL_BY_PLATFORM, {"reason": reason}),
    }.get(by, (OrderAction.CANCEL_BY_SELLER, {"by": by, "reason": reason}))
    order_transition_apply(order, name, actor=actor, fields=CANCEL_FIELDS, note=reason, args=args)
    return order


def order_cancel_on_request_locked(*, order: Order, reason: str, actor: Actor) -> Order:
    """Cancel ``order`` because its buyer's cancellation request was approved (R5): as any
    cancellation, its parcel is closed, its stock goes back and the seller's payment is refunded.

    Precondition: the caller holds the order's lock (``returns.services.cancellations``
    approves the request in the same transaction). Raises TransitionRefused
    ``already_shipped`` once the order is labelled.
    """
    if order.status not in CANCELLABLE_ON_REQUEST:
        shipped = order.status not in NOT_SHIPPED and order.status != OrderStatus.CANCELLED
        raise TransitionRefused(
            f"Order {order.pk} is {order.get_status_display().lower()}; a cancellation request can no longer cancel "
            "it.",
            code="already_shipped" if shipped else "not_cancellable",
        )
    order_transition_apply(
        order,
        OrderAction.CANCEL_ON_BUYER_REQUEST,
        actor=actor,
        fields=CANCEL_FIELDS,
        note=reason,
        args={"reason": reason},
    )
    return order


# --- the seller's wholesale payment ---------------------------------------------------


def order_seller_paid_locked(*, order: Order, reference: str, note: str, actor: Actor) -> None:
    """The seller's wholesale payment for ``order`` is in (by card, or by a bank transfer Finance recorded:
    ``payments.services``, which keep the ledger entry).

    In ``awaiting_checkout`` the order becomes ``ready_to_fulfill`` at once;
    during the hold the payment is noted and takes effect when the hold ends
    (R4). Precondition: the caller holds the order's lock and checked that it
    is on hold or awaiting checkout and not paid yet.
    """
    order.seller_paid_at = timezone.now()
    order.seller_payment_reference = reference[:200]
    fields = ["seller_paid_at", "seller_payment_reference"]
    if order.status == OrderStatus.AWAITING_CHECKOUT:
        order_transition_apply(order, OrderAction.CONFIRM_SELLER_PAYMENT, actor=actor, fields=fields, note=note)
        return
    order.save(update_fields=[*fields, "updated_at"])
    order_event_record(
        order=order,
        action=OrderAction.SELLER_PAYMENT_RECORDED,
        from_status=order.status,
        actor=actor,
        note=f"{note}; takes effect when the hold ends",
    )


# --- completion ----------------------------------------------------------------------


def order_complete(*, order: Order, actor: Actor) -> None:
    """Delivered and the return window has passed (R15). Precondition: the caller holds the order's lock
    and knows that no return of it is still open (``returns.timers`` waits for them)."""
    order_transition_apply(order, OrderAction.COMPLETE, actor=actor, fields=["completed_at"])
