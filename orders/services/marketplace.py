"""What a marketplace that owns its orders may change on ours (R16): it is the source of truth for them.

A connected marketplace (the ``tiktok`` app) reconciles our order with its own
state. These services are its vocabulary, each with the usual shape; they all
take an order the caller has already locked (``orders.locks.lock_order``),
because reconciling one marketplace order runs several of them in one
transaction:

* ``order_end_hold_early_locked``: the marketplace released the order before our
  hold would end;
* ``order_cancel_by_marketplace_locked``: the marketplace cancelled it, in any
  state before shipping, with its initiator and reason;
* ``order_contact_update_locked``: the buyer and address arrived (they are
  withheld while the buyer has not paid or the order is on hold) or changed;
* ``order_deadlines_update_locked``: the marketplace set or moved its deadlines.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from core.actors import Actor
from core.errors import InvalidInput, TransitionRefused
from orders.models import NOT_SHIPPED, CancelledBy, Order, OrderAction, OrderStatus
from orders.services.intake import contact_fields
from orders.services.lifecycle import CANCEL_FIELDS
from orders.services.transitions import order_event_record, order_transition_apply

# The deadlines a marketplace may set, by ``Order`` field (R2, R8).
MARKETPLACE_DEADLINES = ("payment_due_at", "ship_by", "tracking_due", "collect_by", "deliver_by")
MARKETPLACE_CANCELLERS = (CancelledBy.BUYER, CancelledBy.SELLER, CancelledBy.PLATFORM)


def order_end_hold_early_locked(*, order: Order, actor: Actor, note: str = "") -> bool:
    """End the hold now because the marketplace did (R16); False when the order is not on hold.

    The order then waits for the seller's payment, or goes to the warehouse if
    it came during the hold, exactly as when our own hold ends (R4).
    Precondition: the caller holds the order's lock.
    """
    if order.status != OrderStatus.ON_HOLD:
        return False
    order_transition_apply(order, OrderAction.END_HOLD_EARLY, actor=actor, fields=[], note=note)
    return True


def order_cancel_by_marketplace_locked(*, order: Order, by: str, reason: str, actor: Actor) -> bool:
    """Cancel ``order`` because the marketplace cancelled it (R16); False when it already is.

    ``by`` says who started it there: buyer, seller or platform. Allowed in any
    state before shipping: the stock goes back and a wholesale payment is
    refunded (R7), through the reactions. Refused with ``already_shipped`` once
    the parcel is labelled. Precondition: the caller holds the order's lock.
    """
    if by not in MARKETPLACE_CANCELLERS:
        raise InvalidInput(f"Unknown canceller {by!r}.", code="invalid_canceller")
    if order.status == OrderStatus.CANCELLED:
        return False
    if order.status not in NOT_SHIPPED:
        raise TransitionRefused(
            f"Order {order.pk} is {order.get_status_display().lower()} here, so the marketplace's cancellation "
            "cannot be applied: the parcel is already labelled.",
            code="already_shipped",
        )
    order_transition_apply(
        order,
        OrderAction.CANCEL_BY_MARKETPLACE,
        actor=actor,
        fields=CANCEL_FIELDS,
        note=reason,
        args={"by": by, "reason": reason},
    )
    return True


def order_contact_update_locked(*, order: Order, buyer: dict, address: dict, actor: Actor) -> bool:
    """Store the buyer and shipping address the marketplace gives; False when nothing changed.

    Only before the label: once a parcel is labelled the address on it is what
    counts (``already_shipped``). Precondition: the caller holds the order's lock.
    """
    wanted = contact_fields(buyer, address)
    changed = [name for name, value in wanted.items() if getattr(order, name) != value]
    if not changed:
        return False
    if order.status not in NOT_SHIPPED:
        raise TransitionRefused(
            f"Order {order.pk} is already labelled; its address can no longer change.", code="already_shipped"
        )
    had_address = order.has_shipping_address
    for name in changed:
        setattr(order, name, wanted[name])
    order.save(update_fields=[*changed, "updated_at"])
    note = "address changed" if had_address else "address received"
    order_event_record(
        order=order, action=OrderAction.CONTACT_UPDATED, from_status=order.status, actor=actor, note=note
    )
    return True


def order_deadlines_update_locked(*, order: Order, deadlines: dict[str, datetime], actor: Actor) -> bool:
    """Use the marketplace's deadlines (by ``Order`` field) instead of our windows (R16); False when unchanged.

    A clock that moved later may alert again: its ``*_alerted_at`` is cleared.
    Precondition: the caller holds the order's lock.
    """
    unknown = set(deadlines) - set(MARKETPLACE_DEADLINES)
    if unknown:
        raise InvalidInput(f"Unknown deadline(s): {', '.join(sorted(unknown))}.", code="invalid_deadline")
    changed = [name for name, value in deadlines.items() if value is not None and getattr(order, name) != value]
    if not changed:
        return False
    fields = list(changed)
    for name in changed:
        alerted = f"{name}_alerted_at"
        if hasattr(order, alerted) and getattr(order, alerted) is not None and deadlines[name] > timezone.now():
            setattr(order, alerted, None)
            fields.append(alerted)
        setattr(order, name, deadlines[name])
    order.save(update_fields=[*fields, "updated_at"])
    note = ", ".join(
        f"{name.replace('_', ' ')} {timezone.localtime(deadlines[name]):%Y-%m-%d %H:%M}" for name in changed
    )
    order_event_record(
        order=order, action=OrderAction.DEADLINES_UPDATED, from_status=order.status, actor=actor, note=note
    )
    return True
