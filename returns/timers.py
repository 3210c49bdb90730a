"""Deadlines of the reverse flows, run by the project's timer pass (``backoffice.timers``):

* unanswered cancellation requests (R5) and return requests (R11) are approved at ``respond_by``;
* a delivered order completes when its return window ends (R15), unless a
  return of it is still open: it then completes on the first pass after the
  return is resolved or closed. The loop lives here because only this app
  knows what an open return is; ``orders.services.order_complete`` does the rest.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from core.actors import Actor
from core.timers import process_due
from orders.models import Order, OrderStatus
from orders.services import order_complete
from returns.models import RETURN_OPEN
from returns.services.cancellations import process_due_cancellation_requests, process_due_cancellation_warnings
from returns.services.returns import process_due_returns

TIMER = Actor.system("timer")


def process_due_reverse_flows(*, now: datetime) -> dict[str, int]:
    return {
        "cancellation_requests_auto_approved": process_due_cancellation_requests(now=now),
        "cancellation_requests_warned": process_due_cancellation_warnings(now=now),
        "returns_auto_approved": process_due_returns(now=now),
        "orders_completed": process_due(
            model=Order,
            deadline="return_window_ends_at",
            now=now,
            handle=lambda order: order_complete(order=order, actor=TIMER),
            status=OrderStatus.DELIVERED,
            unless=Q(returns__status__in=RETURN_OPEN),
        ),
    }
