"""The order deadlines: unpaid orders cancel at ``payment_due_at`` (R2), holds end at ``hold_until`` (R3/R4)."""

from datetime import datetime

from core.actors import Actor
from core.timers import process_due
from orders.models import CancelledBy, Order, OrderStatus
from orders.services import order_cancel_locked, order_end_hold

TIMER = Actor.system("timer")


def _cancel_unpaid(order: Order) -> None:
    order_cancel_locked(order=order, by=CancelledBy.SYSTEM, reason="unpaid", actor=TIMER)


def _end_hold(order: Order) -> None:
    order_end_hold(order=order, actor=TIMER)


def process_due_orders(*, now: datetime) -> dict[str, int]:
    return {
        "unpaid_cancelled": process_due(
            model=Order, deadline="payment_due_at", now=now, handle=_cancel_unpaid, status=OrderStatus.PENDING_PAYMENT
        ),
        "holds_ended": process_due(
            model=Order, deadline="hold_until", now=now, handle=_end_hold, status=OrderStatus.ON_HOLD
        ),
    }
