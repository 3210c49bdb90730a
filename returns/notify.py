"""What the reverse flows tell people (R13): the partner's webhooks and the seller's email.

* ``cancellation.status_changed`` and ``return.status_changed`` go to the
  partner through the webhook outbox, written in the transaction that moved the
  request. Payloads carry our status and TikTok Shop's vocabulary side by side,
  like TikTok's own CANCELLATION_STATUS_CHANGE (type 11) and
  RETURN_STATUS_CHANGE (type 12) notifications.
* The seller is emailed when a buyer's request waits for an answer, by a task
  after commit, so the request is never held up by the mail server. What the
  email says is read when it is sent: a request answered (or withdrawn)
  meanwhile sends nothing.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from accounts.emails import SellerMessage, portal_url, seller_message
from core.display import span
from orders.notify import order_webhook
from returns.models import (
    CANCELLATION_TIKTOK_STATUS,
    RETURN_TIKTOK_STATUS,
    CancellationRequest,
    CancellationStatus,
    ReturnRequest,
    ReturnStatus,
)
from webhooks.models import WebhookEvent, WebhookEventType
from webhooks.services import iso, webhook_partner_subscribed

logger = logging.getLogger(__name__)


# --- partner webhooks -------------------------------------------------------------------------


def webhook_cancellation_status_changed(
    *, request: CancellationRequest, from_status: str | None
) -> WebhookEvent | None:
    """``cancellation.status_changed`` for ``request``, just created (``from_status`` None) or moved.

    Precondition: inside the transaction that changed ``request``, with
    ``request.order`` loaded (its partner and seller too) as it now stands.
    Returns None when the partner takes no webhooks.
    """
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
        "requested_at": iso(request.requested_at),
        "respond_by": iso(request.respond_by),
        "decided_at": iso(request.decided_at),
        # Who answered, as a kind only (seller, staff, system, partner): never a person's name.
        "decided_by": request.decided_by.partition(":")[0] or None,
        "decision_note": request.decision_note,
        "order_status": order.status,
        "order_marketplace_status": order.marketplace_status,
    }
    return order_webhook(order=order, type=WebhookEventType.CANCELLATION_STATUS_CHANGED, data=data)


def webhook_return_status_changed(*, ret: ReturnRequest, from_status: str | None) -> WebhookEvent | None:
    """``return.status_changed`` for ``ret``, just created (``from_status`` None) or moved.

    Precondition: inside the transaction that changed ``ret``, with ``ret.order``
    loaded (its partner and seller too) and the return's lines saved. Returns
    None when the partner takes no webhooks.
    """
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
        "requested_at": iso(ret.requested_at),
        "respond_by": iso(ret.respond_by),
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
    return order_webhook(order=order, type=WebhookEventType.RETURN_STATUS_CHANGED, data=data)


# --- the seller's email -------------------------------------------------------------------------

CANCELLATION = "cancellation"
RETURN = "return"


def request_waiting_message(*, kind: str, request_id: int) -> SellerMessage | None:
    """The email for one waiting request, or None if it no longer waits for the seller."""
    if kind == CANCELLATION:
        request = CancellationRequest.objects.select_related("order", "seller").filter(pk=request_id).first()
        waiting = request is not None and request.status == CancellationStatus.PENDING
        what = "cancel"
    elif kind == RETURN:
        request = ReturnRequest.objects.select_related("order", "seller").filter(pk=request_id).first()
        waiting = request is not None and request.status == ReturnStatus.REQUESTED
        what = request.get_type_display().lower() if request is not None else ""
    else:
        raise ValueError(f"Unknown request kind {kind!r}.")
    if not waiting:
        return None
    order = request.order
    label = f"{order.external_id} (#{order.pk})"
    noun = "a cancellation" if kind == CANCELLATION else "a return"
    return seller_message(
        seller=request.seller,
        template="request_waiting",
        subject=(
            f"The buyer of order {label} asks for {noun}: answer within {span(request.respond_by - timezone.now())}"
        ),
        context={
            "kind": kind,
            "request": request,
            "order_label": label,
            "what": what,
            "answer_in": span(request.respond_by - timezone.now()),
            "requests_url": portal_url("portal:requests"),
        },
    )


def notify_request_waiting(kind: str, request_id: int) -> str:
    """Email the seller about a waiting request; returns what happened, for the task log."""
    message = request_waiting_message(kind=kind, request_id=request_id)
    if message is None:
        logger.info("%s request %s no longer waits: no email", kind, request_id)
        return "not_waiting"
    message.send()
    logger.info("%s request %s: email sent to %s", kind, request_id, message.to)
    return "sent"
