"""Every order row lock goes through here. Orders are locked before stock."""

from orders.models import Order


def lock_order(order_id: int) -> Order:
    """Lock one order and return it re-read. Precondition: inside ``transaction.atomic()``."""
    return Order.objects.select_for_update(of=("self",)).select_related("seller", "partner").get(pk=order_id)

