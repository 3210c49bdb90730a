"""How order facts read to a seller, shared by the portal's pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.timesince import timesince, timeuntil

from orders.models import Order, OrderStatus


@dataclass(frozen=True)
class Deadline:
    """A clock the seller should know about, phrased relative to now."""

    at: datetime
    passed: bool
    phrase: str


def current_deadline(order: Order, *, now: datetime, depth: int = 1) -> Deadline | None:
    """The deadline that decides what happens next to ``order``, if any.

    An unpaid order cancels at ``payment_due_at`` (R2); a paid one waits on hold
    until ``hold_until`` (R3). A deadline that has passed is still shown, as
    overdue: the timer acts on its next pass, so for a minute the order may lag.
    """
    if order.status == OrderStatus.PENDING_PAYMENT and order.payment_due_at:
        at = order.payment_due_at
        upcoming, past = "Buyer must pay within {}", "Buyer's payment overdue by {}"
    elif order.status == OrderStatus.ON_HOLD and order.hold_until:
        at = order.hold_until
        upcoming, past = "Hold ends in {}", "Hold ended {} ago"
    else:
        return None
    passed = at <= now
    span = timesince(at, now, depth=depth) if passed else timeuntil(at, now, depth=depth)
    return Deadline(at=at, passed=passed, phrase=(past if passed else upcoming).format(span))


def status_label(value: str) -> str:
    try:
        return OrderStatus(value).label
    except ValueError:
        return value.replace("_", " ").capitalize()
