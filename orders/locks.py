"""Every order row lock goes through here. Orders are locked before anything that hangs off them:
their parcel, stock rows (in pk order), payments, requests and returns."""

from core.errors import DomainError
from orders.models import Order


class OrderBusy(DomainError):
    """A timer found the order locked by another transaction; its next pass retries."""

    code = "order_busy"
    status = 409


def lock_order(order_id: int) -> Order:
    """Lock one order and return it re-read. Precondition: inside ``transaction.atomic()``."""
    return Order.objects.select_for_update(of=("self",)).select_related("seller", "partner").get(pk=order_id)


def lock_orders(order_ids) -> list[Order]:
    """Lock several orders in pk order (the order two transactions must agree on) and return them re-read.

    Precondition: inside ``transaction.atomic()``, holding no stock lock yet.
    """
    ids = sorted(set(order_ids))
    if not ids:
        return []
    return list(
        Order.objects.select_for_update(of=("self",))
        .select_related("seller", "partner")
        .filter(pk__in=ids)
        .order_by("pk")
    )


def lock_order_unless_busy(order_id: int) -> Order:
    """For a timer that already holds the lock of a row hanging off the order (a request, a return):
    the order, locked with SKIP LOCKED, or ``OrderBusy`` when another transaction holds it.

    Taking the order after that row is the one reversal of the lock order, and
    it is safe because this never waits. Precondition: inside ``transaction.atomic()``.
    """
    order = (
        Order.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("seller", "partner")
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        raise OrderBusy(f"Order {order_id} is locked by another transaction; retried on the next pass.")
    return order
