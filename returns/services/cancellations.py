"""Cancellation requests after the hold (R5): create, approve, reject, withdraw, auto-approve.

After the hold a buyer can no longer cancel outright: the partner's cancel
becomes a request that the seller (or staff for them) answers within
``CANCELLATION_RESPONSE_WINDOW``, or the marketplace approves it for them at
``respond_by``. Approval is only possible while nothing has shipped; it cancels
the order through ``orders.services``, which releases the stock, and the order's
status-change effects refund the seller's wholesale payment (R7) and tell the
partner (``order.cancelled``). Labelling the parcel rejects a pending request
(``cancellation_requests_on_order_status_changed``, an order reaction).

Every change writes a ``CancellationRequestEvent``, an ``OrderEvent`` (the
order's history shows the request), and a ``cancellation.status_changed``
webhook, all in the same transaction; deliveries and refunds go out after commit.

Lock order: the order first (``orders.locks.lock_order``), then its request
(``returns.locks``), then what cancelling the order locks (shipment, stock).
A request is only locked by whoever holds its order, with one exception: the
timer pass finds due requests by their own indexed ``respond_by`` and locks the
request first, then takes the order with SKIP LOCKED. It never waits for the
order, so it cannot close a cycle with a service that holds the order and
waits for the request; a busy order is simply retried on the next pass.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from core.actors import Actor
from core.display import local_time
from core.errors import InvalidInput, NotFound, PermissionRefused, TransitionRefused
from core.tasks import enqueue_on_commit
from core.timers import process_due
from orders import hooks
from orders.locks import lock_order, lock_order_unless_busy
from orders.models import BEFORE_HOLD_ENDS, CANCELLABLE_ON_REQUEST, NOT_SHIPPED, Order, OrderAction, OrderStatus
from orders.services import order_cancel_on_request_locked, order_touch
from payments.services import auto_checkout_resume_locked
from returns.locks import lock_cancellation_request, lock_pending_cancellation_requests
from returns.models import CancellationRequest, CancellationRequestEvent, CancellationStatus, RequestedBy
from returns.notify import webhook_cancellation_status_changed

logger = logging.getLogger(__name__)


DECIDE_PERMISSION = "returns.decide_cancellationrequest"
CREATE_PERMISSION = "returns.add_cancellationrequest"
TIMER = Actor.system("timer")

REASON_MAX = CancellationRequest._meta.get_field("reason").max_length
NOTE_MAX = CancellationRequest._meta.get_field("decision_note").max_length
EXTERNAL_ID_MAX = CancellationRequest._meta.get_field("external_id").max_length

SHIPPED_NOTE = "The parcel was labelled before the request was answered, so the order can no longer be cancelled."


# --- who may do what ----------------------------------------------------------------------


def _is_members_seller(actor: Actor, seller_id: int) -> bool:
    membership = getattr(actor.user, "seller_membership", None)
    return membership is not None and membership.seller_id == seller_id


def _require_decide(request: CancellationRequest, actor: Actor) -> None:
    """The seller answers for itself; staff need the decide permission; the system is the timer.

    Partners relay the buyer's side only (create, withdraw): the answer is the seller's.
    """
    if actor.kind == "system":
        return
    if actor.kind == "seller":
        if not _is_members_seller(actor, request.seller_id):
            raise PermissionRefused("You can only answer your own orders' cancellation requests.")
    elif actor.kind == "staff":
        if not actor.user.has_perm(DECIDE_PERMISSION):
            raise PermissionRefused("You do not have permission to approve or reject cancellation requests.")
    else:
        raise PermissionRefused("Partners cannot answer a cancellation request; the seller does.")


def _require_relay(order: Order, actor: Actor) -> None:
    """Who may ask for (or withdraw) a cancellation: the order's partner, staff with the permission,
    the seller on the buyer's behalf, and the system."""
    if actor.kind == "system":
        return
    if actor.kind == "partner":
        if actor.partner is None or actor.partner.pk != order.partner_id:
            raise NotFound(f"Order {order.pk} not found.")
    elif actor.kind == "staff":
        if not actor.user.has_perm(CREATE_PERMISSION):
            raise PermissionRefused("You do not have permission to create cancellation requests.")
    elif not _is_members_seller(actor, order.seller_id):
        raise PermissionRefused("You can only act on your own orders.")


def _require_withdraw(order: Order, actor: Actor) -> None:
    """Only the buyer's side withdraws (the partner, or staff relaying it): a seller withdrawing
    would be answering the request while dodging its automatic approval."""
    if actor.kind == "seller":
        raise PermissionRefused("Only the buyer can withdraw a cancellation request; approve or reject it instead.")
    _require_relay(order, actor)


# --- shared steps (callers hold the order's lock, then the request's) --------------------------


def _record(request: CancellationRequest, *, action: str, from_status: str, actor: Actor, note: str = "") -> None:
    """The request's audit row, its line in the order's history, and the partner's webhook."""
    CancellationRequestEvent.record(
        request=request, action=action, from_status=from_status, to_status=request.status, actor=actor, note=note
    )
    order_action = "cancellation_requested" if action == "requested" else f"cancellation_request_{action}"
    order_touch(order=request.order, action=OrderAction(order_action), actor=actor, note=note)
    webhook_cancellation_status_changed(request=request, from_status=from_status or None)


def _save_decision(request: CancellationRequest) -> None:
    request.save(update_fields=["status", "decided_at", "decided_by", "decision_note", "updated_at"])


def _is_shipped(order: Order) -> bool:
    """Something left (or is about to leave) the warehouse: labelled, on its way, delivered, lost."""
    return order.status not in NOT_SHIPPED and order.status != OrderStatus.CANCELLED


def _lock(request_id: int) -> tuple[Order, CancellationRequest]:
    """Lock the request's order, then the request. Precondition: inside ``transaction.atomic()``."""
    order_id = CancellationRequest.objects.filter(pk=request_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise NotFound(f"Cancellation request {request_id} not found.")
    order = lock_order(order_id)
    request = lock_cancellation_request(request_id)
    request.order = order
    return order, request


def _not_pending(request: CancellationRequest) -> TransitionRefused:
    return TransitionRefused(
        f"Cancellation request {request.pk} is already {request.get_status_display().lower()}.", code="not_pending"
    )


def _approve_locked(
    order: Order, request: CancellationRequest, *, actor: Actor, note: str = "", auto: bool = False
) -> None:
    """Approve a pending request and cancel its order, unless the order is cancelled already.

    Precondition: both locked, ``request`` pending, nothing shipped.
    """
    from_status = request.status
    if auto:
        request.auto_approve()
    else:
        request.approve(by=str(actor), note=note)
    _save_decision(request)
    _record(request, action=request.status, from_status=from_status, actor=actor, note=request.decision_note)
    if order.status == OrderStatus.CANCELLED:
        return  # cancelled another way meanwhile: stock and refund are already done, the request is fulfilled
    # The request is settled first, so the order's cancellation effects find no request still pending.
    order_cancel_on_request_locked(order=order, reason=request.reason or "the buyer asked to cancel", actor=actor)


def _reject_locked(request: CancellationRequest, *, actor: Actor, note: str) -> None:
    from_status = request.status
    request.reject(by=str(actor), note=note)
    _save_decision(request)
    _record(request, action="rejected", from_status=from_status, actor=actor, note=note)
    # The order goes ahead: Auto Checkout, which waited for the answer, charges it now.
    auto_checkout_resume_locked(order=request.order, actor=actor)


# --- services ---------------------------------------------------------------------------------


def cancellation_request_create(
    *,
    order_id: int,
    actor: Actor,
    reason: str = "",
    external_id: str = "",
    requested_by: str = RequestedBy.BUYER,
    respond_by: datetime | None = None,
    marketplace_decides: bool = False,
) -> tuple[CancellationRequest, bool]:
    """Ask the seller to approve cancelling ``order_id`` (R5); return ``(request, created)``.

    ``respond_by`` is the marketplace's own deadline for the seller's answer,
    when it sets one (R16); else ``CANCELLATION_RESPONSE_WINDOW`` from now.
    ``marketplace_decides``: the marketplace approves an unanswered request at
    ``respond_by`` itself (TikTok), so our timer does not: it reminds the seller
    ``CANCELLATION_WARN_LEAD`` before instead, and waits for the marketplace's status.

    Idempotent: a repeat with an ``external_id`` already seen for this order
    returns that request, and while a request is pending any new one returns the
    pending request (a partial unique constraint allows one pending per order).
    Refused with 409: ``approval_not_needed`` during the hold (cancel the order
    instead), ``already_cancelled``, ``already_shipped``.
    """
    if requested_by not in RequestedBy.values:
        raise InvalidInput(f"Unknown requester {requested_by!r}.", code="invalid_requester")
    reason, external_id = (reason or "").strip(), (external_id or "").strip()
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"The reason is longer than {REASON_MAX} characters.", code="reason_too_long")
    if len(external_id) > EXTERNAL_ID_MAX:
        raise InvalidInput(f"The external id is longer than {EXTERNAL_ID_MAX} characters.", code="invalid_external_id")
    with transaction.atomic():
        try:
            order = lock_order(order_id)
        except Order.DoesNotExist:
            raise NotFound(f"Order {order_id} not found.") from None
        _require_relay(order, actor)
        existing = order.cancellation_requests.filter(status=CancellationStatus.PENDING).first()
        if external_id:
            existing = order.cancellation_requests.filter(external_id=external_id).first() or existing
        if existing is not None:
            existing.order = order
            return existing, False
        if order.status == OrderStatus.CANCELLED:
            raise TransitionRefused(f"Order {order.pk} is already cancelled.", code="already_cancelled")
        if order.status in BEFORE_HOLD_ENDS:
            raise TransitionRefused(
                f"Order {order.pk} is {order.get_status_display().lower()}: until the hold ends the buyer may "
                "cancel without the seller's approval, so cancel the order instead.",
                code="approval_not_needed",
            )
        if order.status not in CANCELLABLE_ON_REQUEST:
            raise TransitionRefused(
                f"Order {order.pk} is {order.get_status_display().lower()}; shipped orders cannot be cancelled.",
                code="already_shipped",
            )
        now = timezone.now()
        respond_by = respond_by or now + settings.CANCELLATION_RESPONSE_WINDOW
        request = CancellationRequest.objects.create(
            order=order,
            seller_id=order.seller_id,
            external_id=external_id,
            requested_by=requested_by,
            reason=reason,
            requested_at=now,
            respond_by=respond_by,
            marketplace_decides=marketplace_decides,
            warn_at=max(now, respond_by - settings.CANCELLATION_WARN_LEAD) if marketplace_decides else None,
        )
        _record(request, action="requested", from_status="", actor=actor, note=reason)
        # R13: the seller hears about it at once, by email, after commit.
        enqueue_on_commit("returns.tasks.request_waiting_email", "cancellation", request.pk)
    return request, True


def cancellation_request_approve(*, request_id: int, actor: Actor, note: str = "") -> CancellationRequest:
    """The seller (or staff for them) approves: the order is cancelled, its stock released and the
    seller's wholesale payment refunded; the partner is told.

    Approving an approved request is a no-op. Refused: ``already_shipped``
    once the parcel is labelled, ``not_pending`` for a rejected or withdrawn request.
    """
    note = (note or "").strip()[:NOTE_MAX]
    with transaction.atomic():
        order, request = _lock(request_id)
        _require_decide(request, actor)
        if request.status in (CancellationStatus.APPROVED, CancellationStatus.AUTO_APPROVED):
            return request
        if _is_shipped(order):
            raise TransitionRefused(
                f"Order {order.pk} is {order.get_status_display().lower()}: a shipped order cannot be cancelled.",
                code="already_shipped",
            )
        if request.status != CancellationStatus.PENDING:
            raise _not_pending(request)
        _approve_locked(order, request, actor=actor, note=note)
        hooks.marketplace().cancellation_answered(request=request, approved=True, reason=note, actor=actor)
    return request


def cancellation_request_reject(*, request_id: int, actor: Actor, reason: str) -> CancellationRequest:
    """The seller (or staff for them) refuses the cancellation, with a reason the buyer is given.

    Rejecting a rejected request is a no-op. Refused: ``reason_required``,
    ``not_pending`` (approved or withdrawn), ``already_cancelled`` when the order
    was cancelled some other way, and ``response_window_over`` after ``respond_by``:
    by then the marketplace has approved it (the timer records that on its next pass).
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Give a reason: the buyer is told why the order goes ahead.", code="reason_required")
    if len(reason) > NOTE_MAX:
        raise InvalidInput(f"The reason is longer than {NOTE_MAX} characters.", code="reason_too_long")
    with transaction.atomic():
        order, request = _lock(request_id)
        _require_decide(request, actor)
        if request.status == CancellationStatus.REJECTED:
            return request
        if request.status != CancellationStatus.PENDING:
            raise _not_pending(request)
        if order.status == OrderStatus.CANCELLED:
            raise TransitionRefused(f"Order {order.pk} is already cancelled.", code="already_cancelled")
        if request.respond_by <= timezone.now():
            raise TransitionRefused(
                f"Cancellation request {request.pk} was not answered by {local_time(request.respond_by)}, "
                "so it is approved automatically.",
                code="response_window_over",
            )
        hooks.marketplace().cancellation_answered(request=request, approved=False, reason=reason, actor=actor)
        _reject_locked(request, actor=actor, note=reason)
    return request


def cancellation_request_withdraw(*, request_id: int, actor: Actor, note: str = "") -> CancellationRequest:
    """The buyer no longer wants to cancel (the partner relays it): the order goes ahead.

    Withdrawing a withdrawn request is a no-op; an answered one is ``not_pending``.
    """
    note = (note or "").strip()[:NOTE_MAX]
    with transaction.atomic():
        order, request = _lock(request_id)
        _require_withdraw(order, actor)
        if request.status == CancellationStatus.WITHDRAWN:
            return request
        if request.status != CancellationStatus.PENDING:
            raise _not_pending(request)
        from_status = request.status
        request.withdraw(by=str(actor), note=note or "The buyer withdrew the request.")
        _save_decision(request)
        _record(request, action="withdrawn", from_status=from_status, actor=actor, note=request.decision_note)
        auto_checkout_resume_locked(order=order, actor=actor)
    return request


# --- the order moved (a reaction plugged into ``orders.hooks`` at start-up) ------------------------------------------


def cancellation_requests_on_order_status_changed(*, order: Order, from_status: str, action: str, actor: Actor) -> None:
    """Keep a pending request consistent with its order, in the order's transaction (order locked).

    - Labelled (``shipped``): the request is rejected, since nothing shipped can be cancelled (R5).
    - Cancelled some other way (the seller or staff cancelled it): the buyer got
      what they asked for, so the request is approved; nothing more happens to the order.

    Only orders that were past the hold and not yet shipped can have a pending request.
    """
    if from_status not in CANCELLABLE_ON_REQUEST or order.status not in (OrderStatus.SHIPPED, OrderStatus.CANCELLED):
        return
    for request in lock_pending_cancellation_requests(order):
        request.order = order
        from_status_request = request.status
        if order.status == OrderStatus.SHIPPED:
            _reject_locked(request, actor=actor, note=SHIPPED_NOTE)
        else:
            note = f"The order was cancelled ({order.get_cancelled_by_display().lower()}: {order.cancel_reason})."
            request.approve(by=str(actor), note=note)
            _save_decision(request)
            _record(request, action="approved", from_status=from_status_request, actor=actor, note=note)


# --- the timer ------------------------------------------------------------------------------------


def _auto_approve_due(request: CancellationRequest) -> None:
    """Approve one request whose ``respond_by`` passed (R5). Precondition: ``request`` locked and pending.

    The order is taken with SKIP LOCKED (see the module docstring): if someone
    holds it, this raises ``OrderBusy`` and the next pass tries again.
    """
    order = lock_order_unless_busy(request.order_id)
    request.order = order
    if _is_shipped(order):
        # Labelling rejects pending requests; this only mends a request left behind by older data.
        _reject_locked(request, actor=TIMER, note=SHIPPED_NOTE)
    elif can_proceed(request.auto_approve):
        _approve_locked(order, request, actor=TIMER, auto=True)
    else:
        raise TransitionRefused(f"Cancellation request {request.pk} is not due until {local_time(request.respond_by)}.")


def process_due_cancellation_requests(*, now: datetime) -> int:
    """Auto-approve pending requests whose ``respond_by`` has passed; returns how many.

    Safe to run late, twice, or on many workers at once: each due request is
    locked with SKIP LOCKED and re-checked as pending and due under the lock.
    """
    return process_due(
        model=CancellationRequest,
        deadline="respond_by",
        now=now,
        handle=_auto_approve_due,
        status=CancellationStatus.PENDING,
        marketplace_decides=False,
        owns_error=True,
    )


def _warn_due(request: CancellationRequest) -> None:
    """Remind the seller once that the marketplace approves the request at ``respond_by`` unless answered.
    Precondition: ``request`` locked and pending."""
    request.warn_at = None
    request.save(update_fields=["warn_at", "updated_at"])
    enqueue_on_commit("returns.tasks.request_waiting_email", "cancellation", request.pk)


def process_due_cancellation_warnings(*, now: datetime) -> int:
    """Requests the marketplace decides at its deadline (TikTok): the seller is reminded
    ``CANCELLATION_WARN_LEAD`` before it, once. Our timer never approves them (R16)."""
    return process_due(
        model=CancellationRequest,
        deadline="warn_at",
        now=now,
        handle=_warn_due,
        status=CancellationStatus.PENDING,
    )
