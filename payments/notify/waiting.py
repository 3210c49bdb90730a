"""Which orders an email may say are waiting for the seller's payment, and what each costs.

Read when the email is written, not when it was decided: an order paid,
cancelled, or with a payment under way by then is left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from accounts.models import Seller
from orders.models import Order, OrderStatus
from payments.selectors import checkout_quote

# Problems (``payments.selectors.PROBLEM_MESSAGES``) of orders that still wait but cannot be paid as they are:
# the email lists them with the reason, outside the total.
LISTED_PROBLEMS = ("stock_exception", "nothing_to_charge")
# An email lists at most this many orders, oldest first; the portal has the rest.
LIST_LIMIT = 100


@dataclass(frozen=True)
class WaitingOrder:
    order_id: int
    external_id: str
    amount: int
    note: str  # why it cannot be paid as it is; empty when it can
    placed_at: datetime
    waiting_since: datetime | None
    ship_by: datetime | None

    @property
    def label(self) -> str:
        """How sellers know an order: the marketplace's id, then ours."""
        return f"{self.external_id} (#{self.order_id})"


@dataclass(frozen=True)
class WaitingOrders:
    orders: list[WaitingOrder]
    total: int  # what paying every payable one costs, in minor units
    currency: str
    limit: int = LIST_LIMIT
    shown: list[WaitingOrder] = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "shown", self.orders[: self.limit])

    @property
    def count(self) -> int:
        return len(self.orders)

    @property
    def not_shown(self) -> int:
        return len(self.orders) - len(self.shown)

    @property
    def payable_count(self) -> int:
        return sum(1 for order in self.orders if not order.note)

    def __bool__(self) -> bool:
        return bool(self.orders)


def waiting_orders(*, seller: Seller, order_ids: Iterable[int]) -> WaitingOrders:
    """The orders among ``order_ids`` that still wait for ``seller``'s payment, oldest first, with their cost.

    Waiting means awaiting checkout, not paid, and no payment under way (a
    charge still processing, or waiting for the bank, is not the seller's to make).
    """
    orders = list(
        Order.objects.filter(
            pk__in=list(order_ids), seller=seller, status=OrderStatus.AWAITING_CHECKOUT, seller_paid_at__isnull=True
        ).order_by("placed_at", "id")
    )
    by_id = {order.pk: order for order in orders}
    quote = checkout_quote(seller=seller, order_ids=[order.pk for order in orders])
    listed = []
    for line in quote.lines:
        if line.problem and line.problem not in LISTED_PROBLEMS:
            continue
        order = by_id[line.order_id]
        listed.append(
            WaitingOrder(
                order_id=order.pk,
                external_id=order.external_id,
                amount=line.amount,
                note=line.message if line.problem else "",
                placed_at=order.placed_at,
                waiting_since=order.hold_until,
                ship_by=order.ship_by,
            )
        )
    return WaitingOrders(orders=listed, total=quote.total, currency=quote.currency)
