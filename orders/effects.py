"""What other apps do when an order changes status.

``order_status_changed`` runs inside the transaction that moved the order,
with the order locked, right after its audit row is written. Each reaction is
an explicit call below (no signals), and each must be cheap and local:
write outbox rows or intents here, and defer anything that talks to the
outside world with ``transaction.on_commit``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.actors import Actor
    from orders.models import Order


def order_status_changed(*, order: Order, from_status: str, action: str, actor: Actor) -> None:
    """React to ``order`` having just moved from ``from_status`` to ``order.status``."""
    from payments.effects import on_order_status_changed as payments_react

    # Auto Checkout takes orders entering awaiting_checkout; a cancelled paid order is refunded (R4, R7).
    payments_react(order=order, from_status=from_status, action=action, actor=actor)
    from returns.services.cancellations import cancellation_requests_on_order_status_changed

    # A pending cancellation request (R5) is rejected by labelling, approved by any other cancellation.
    cancellation_requests_on_order_status_changed(order=order, from_status=from_status, actor=actor)
    from backoffice.webhooks import webhook_order_status_changed

    # Partner webhooks (R13): outbox rows in this transaction, sent after commit.
    webhook_order_status_changed(order=order, from_status=from_status)
