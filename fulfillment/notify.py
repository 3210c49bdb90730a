"""What partners are told about an order's parcel (R13): shipped with tracking, delivered, at risk.

Written to the webhook outbox in the transaction of the warehouse step (or the
carrier event, or the alert) that caused it; ``order.status_changed`` itself
is the order's own (``orders.notify``).
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from orders.models import Order
from orders.notify import order_snapshot, order_webhook
from webhooks.models import WebhookEvent, WebhookEventType
from webhooks.services import iso, webhook_partner_subscribed


def _parcel(shipment) -> dict:
    carrier = shipment.carrier
    return {
        "carrier": {"code": carrier.code, "name": carrier.name} if carrier is not None else None,
        "tracking_number": shipment.tracking_number or None,
    }


def order_shipped(*, order: Order, shipment, previous: dict | None = None) -> None:
    """``order.shipped`` with the carrier and tracking number; sent again with ``tracking_updated``
    and the ``previous`` values when staff correct them, so the marketplace shows the right number."""
    if not webhook_partner_subscribed(order.partner):
        return
    data = {**order_snapshot(order), **_parcel(shipment)}
    if previous is not None:
        data.update({"tracking_updated": True, "previous": previous})
    order_webhook(order=order, type=WebhookEventType.ORDER_SHIPPED, data=data)


def order_delivered(*, order: Order, shipment) -> None:
    """``order.delivered``: the carrier delivered the parcel."""
    if not webhook_partner_subscribed(order.partner):
        return
    order_webhook(
        order=order, type=WebhookEventType.ORDER_DELIVERED, data={**order_snapshot(order), **_parcel(shipment)}
    )


def order_at_risk(*, order: Order, clock: str, due_at: datetime) -> WebhookEvent | None:
    """``order.at_risk``: deadline ``clock`` (e.g. ``ship_by``) due at ``due_at`` is close, or already
    missed (``late``). Written once per clock, in the transaction that marks it alerted."""
    return order_webhook(
        order=order,
        type=WebhookEventType.ORDER_AT_RISK,
        data={**order_snapshot(order), "clock": clock, "due_at": iso(due_at), "late": due_at <= timezone.now()},
    )
