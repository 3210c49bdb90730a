"""What partners are told about an order's status (R13): ``order.status_changed`` and ``order.cancelled``.

The payloads are built here and written to the webhook outbox in the
transaction that moved the order; delivery is ``webhooks``'s. Shipping,
delivery and deadline events are the warehouse's (``fulfillment.notify``).
"""

from __future__ import annotations

from orders.models import MARKETPLACE_STATUS, Order, OrderStatus
from webhooks.models import WebhookEvent, WebhookEventType
from webhooks.services import iso, webhook_event_create, webhook_partner_subscribed


def order_webhook(*, order: Order, type: WebhookEventType, data: dict) -> WebhookEvent | None:
    """Write one event about ``order`` for its partner, with the order as the envelope's subject.

    Precondition: inside the transaction that changed the order, with its seller loaded.
    """
    return webhook_event_create(
        partner=order.partner,
        type=type,
        data=data,
        order_id=order.pk,
        external_id=order.external_id,
        seller_code=order.seller.code,
    )


def order_snapshot(order: Order) -> dict:
    """The status fields every order event carries: ours and TikTok Shop's."""
    return {"status": order.status, "marketplace_status": order.marketplace_status}


def order_status_changed(*, order: Order, from_status: str) -> None:
    """``order.status_changed`` for every move, and ``order.cancelled`` when it was cancelled."""
    if not webhook_partner_subscribed(order.partner):
        return
    order_webhook(
        order=order,
        type=WebhookEventType.ORDER_STATUS_CHANGED,
        data={
            "from": from_status,
            "to": order.status,
            "from_marketplace_status": MARKETPLACE_STATUS.get(from_status),
            "marketplace_status": order.marketplace_status,
        },
    )
    if order.status == OrderStatus.CANCELLED:
        order_webhook(
            order=order,
            type=WebhookEventType.ORDER_CANCELLED,
            data={
                **order_snapshot(order),
                "from": from_status,
                "cancelled_by": order.cancelled_by,
                "reason": order.cancel_reason,
                "cancelled_at": iso(order.cancelled_at),
            },
        )
