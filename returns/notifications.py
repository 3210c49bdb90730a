"""The email a seller gets when a buyer's cancellation or return request waits for an answer (R13).

Sent by a task after the request's transaction commits, so the request
itself is never held up by the mail server. What the email says is read when
it is sent: a request answered (or withdrawn) in the meantime sends nothing.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from payments.notifications import SellerMessage, portal_url, seller_message
from core.display import span
from returns.models import CancellationRequest, CancellationStatus, ReturnRequest, ReturnStatus

logger = logging.getLogger(__name__)

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
        subject=f"The buyer of order {label} asks for {noun}: answer within {span(request.respond_by - timezone.now())}",
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
