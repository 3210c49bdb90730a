"""Partner webhooks of the reverse flows (R13): payload builders over ``backoffice.webhooks``.

Each builder writes an outbox row with ``webhook_event_create`` inside the
transaction that moved the request, so the change and its event commit or roll
back together; delivery, signing and retries are ``backoffice.webhooks``'s.
Payloads carry our status and TikTok Shop's vocabulary side by side, like
TikTok's own CANCELLATION_STATUS_CHANGE (type 11) and RETURN_STATUS_CHANGE
(type 12) notifications.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from backoffice.models import WebhookEventType
from backoffice.webhooks import webhook_event_create, webhook_partner_subscribed

if TYPE_CHECKING:
    from backoffice.models import WebhookEvent
    from returns.models import CancellationRequest, ReturnRequest


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value is not None else None


def webhook_cancellation_status_changed(*, request: CancellationRequest, from_status: str | None) -> WebhookEvent | None:
    """``cancellation.status_changed`` for ``request``, just created (``from_status`` None) or moved.

    Precondition: inside the transaction that changed ``request``, with
    ``request.order`` loaded (its partner and seller too) as it now stands.
    Returns None when the partner takes no webhooks.
    """
    from returns.models import CANCELLATION_TIKTOK_STATUS

    order = request.order
    data = {
        "cancellation_id": request.pk,
        "cancellation_external_id": request.external_id or None,
        "status": request.status,
        "from": from_status,
        "marketplace_status": request.marketplace_status,
        "from_marketplace_status": CANCELLATION_TIKTOK_STATUS[from_status] if from_status else None,
        "requested_by": request.requested_by,
        "reason": request.reason,
        "requested_at": _iso(request.requested_at),
        "respond_by": _iso(request.respond_by),
        "decided_at": _iso(request.decided_at),
        # Who answered, as a kind only (seller, staff, system, partner): never a person's name.
        "decided_by": request.decided_by.partition(":")[0] or None,
        "decision_note": request.decision_note,
        "order_status": order.status,
        "order_marketplace_status": order.marketplace_status,
    }
    return webhook_event_create(
        partner=order.partner, type=WebhookEventType.CANCELLATION_STATUS_CHANGED, order=order, data=data
    )


def webhook_return_status_changed(*, ret: ReturnRequest, from_status: str | None) -> WebhookEvent | None:
    """``return.status_changed`` for ``ret``, just created (``from_status`` None) or moved.

    Precondition: inside the transaction that changed ``ret``, with ``ret.order``
    loaded (its partner and seller too) and the return's lines saved. Returns
    None when the partner takes no webhooks.
    """
    from returns.models import RETURN_TIKTOK_STATUS

    order = ret.order
    if not webhook_partner_subscribed(order.partner):
        return None  # nothing would be written: skip building the payload
    refund = ret.refund
    data = {
        "return_id": ret.pk,
        "return_external_id": ret.external_id or None,
        "type": ret.type,
        "status": ret.status,
        "from": from_status,
        "marketplace_status": ret.marketplace_status,
        "from_marketplace_status": RETURN_TIKTOK_STATUS[from_status] if from_status else None,
        "reason": ret.reason,
        "requested_at": _iso(ret.requested_at),
        "respond_by": _iso(ret.respond_by),
        "lines": [
            {"order_line_id": line.order_line_id, "sku": line.order_line.sku_code, "quantity": line.quantity}
            for line in ret.lines.select_related("order_line").order_by("pk")
        ],
        "return_shipment": (
            {"carrier": ret.return_carrier.code, "tracking_number": ret.return_tracking_number}
            if ret.return_carrier_id
            else None
        ),
        # The seller's wholesale refund, in minor units: null until Finance decides, 0 for none.
        "refund_amount": ret.refund_amount,
        "refund_status": refund.status if refund is not None else None,
        "replacement_order_id": ret.replacement_order_id,
        "order_status": order.status,
        "order_marketplace_status": order.marketplace_status,
    }
    return webhook_event_create(partner=order.partner, type=WebhookEventType.RETURN_STATUS_CHANGED, order=order, data=data)
