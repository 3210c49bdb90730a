"""What the warehouse tests share: the start time of their clock (``conftest``) and small readers."""

from datetime import UTC, datetime

from backoffice.timers import process_due_timers
from orders.models import Order

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def stock_of(sku) -> tuple[int, int]:
    """(on hand, reserved) of ``sku`` as the database has them now."""
    sku.stock.refresh_from_db()
    return sku.stock.on_hand, sku.stock.reserved


def order_of(order) -> Order:
    """``order`` read again, with its shipment."""
    return Order.objects.select_related("shipment").get(pk=order.pk)


def timers_at(clock, when):
    clock.move_to(when)
    return process_due_timers()
