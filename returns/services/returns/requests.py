"""A return is asked for and answered: create (partner API or staff), approve, reject, auto-approve (R11).

A return may only be asked for a delivered order, within its return window
(``Order.return_window_ends_at``, R15), for units that were ordered and are
not already claimed by another return. The seller (or staff for the seller)
answers within ``RETURN_RESPONSE_WINDOW``; unanswered, the timer approves it at
``respond_by``. An approved return the buyer must send back moves on to
``awaiting_return_shipment`` in the same transaction; a ``refund_only`` one waits
for Finance's refund decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from core.actors import Actor
from core.display import local_time
from core.errors import InvalidInput, NotFound, TransitionRefused
from core.tasks import enqueue_on_commit
from core.timers import process_due
from orders import hooks
from orders.locks import lock_order, lock_order_unless_busy
from orders.models import Order, OrderAction, OrderStatus
from orders.services import order_touch
from returns.models import RequestedBy, ReturnLine, ReturnRequest, ReturnStatus, ReturnType
from returns.notify import webhook_return_status_changed
from returns.selectors import returned_quantities
from returns.services.returns.common import (
    CREATE_PERMISSION,
    TIMER,
    lock_order_and_return,
    require_decider,
    require_relay,
    return_event_record,
    return_transition_apply,
)

REASON_MAX = ReturnRequest._meta.get_field("reason").max_length
BUYER_NOTE_MAX = ReturnRequest._meta.get_field("buyer_note").max_length
NOTE_MAX = ReturnRequest._meta.get_field("decision_note").max_length
EXTERNAL_ID_MAX = ReturnRequest._meta.get_field("external_id").max_length
# Upper bounds on one request's work, as for orders.
MAX_LINES = 100

# Everything a return can be once someone approved it (by hand or by the timer).
APPROVED_OR_LATER = {
    ReturnStatus.APPROVED,
    ReturnStatus.AUTO_APPROVED,
    ReturnStatus.AWAITING_RETURN_SHIPMENT,
    ReturnStatus.IN_TRANSIT,
    ReturnStatus.RECEIVED,
    ReturnStatus.INSPECTED,
    ReturnStatus.REFUNDED,
    ReturnStatus.REPLACED,
    ReturnStatus.REJECTED_AFTER_INSPECTION,
    ReturnStatus.CLOSED,
}


@dataclass(frozen=True)
class ReturnLineInput:
    """One line of a return request: an order line by our id (``line_id``) or by its SKU, and the units."""

    quantity: int
    line_id: int | None = None
    sku: str | None = None


# --- create ---------------------------------------------------------------------------------


def _clean_text(value: str, *, limit: int, field: str, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(f"Give the {field.replace('_', ' ')}.", code=f"{field}_required")
    if len(value) > limit:
        raise InvalidInput(f"The {field.replace('_', ' ')} is longer than {limit} characters.", code="invalid")
    return value


def _check_lines(lines: list[ReturnLineInput]) -> None:
    if not lines:
        raise InvalidInput("A return needs at least one line.", code="no_lines")
    if len(lines) > MAX_LINES:
        raise InvalidInput(f"A return has at most {MAX_LINES} lines.", code="too_many_lines")
    for line in lines:
        if not isinstance(line.quantity, int) or isinstance(line.quantity, bool) or line.quantity < 1:
            raise InvalidInput("Each line returns at least one unit.", code="invalid_quantity")
        if (line.line_id is None) == (not line.sku):
            raise InvalidInput("Give each line either its line_id or its sku, not both.", code="invalid_line")


def _line_errors(detail: str, code: str, errors: list[dict]) -> InvalidInput:
    """A refusal naming the lines at fault, in the shape of the request's ``lines`` list."""
    exc = InvalidInput(detail, code=code)
    exc.errors = {"lines": errors}
    return exc


def _resolve_lines(order: Order, lines: list[ReturnLineInput]) -> list[tuple]:
    """Pair each input with its order line and check the units against what may still be returned.

    Precondition: the order is locked, so no other return of it is being created meanwhile.
    """
    order_lines = list(order.lines.all())
    by_id = {line.pk: line for line in order_lines}
    by_sku: dict[str, list] = {}
    for line in order_lines:
        by_sku.setdefault(line.sku_code, []).append(line)
    resolved, errors, seen = [], [], set()
    for given in lines:
        if given.line_id is not None:
            line = by_id.get(given.line_id)
            problem = "" if line else f"Order {order.pk} has no line {given.line_id}."
        else:
            matches = by_sku.get(given.sku, [])
            line = matches[0] if len(matches) == 1 else None
            problem = (
                f"Order {order.pk} has no line with SKU {given.sku!r}."
                if not matches
                else f"Order {order.pk} has several lines with SKU {given.sku!r}; give the line_id."
                if line is None
                else ""
            )
        errors.append({"line_id" if given.line_id is not None else "sku": [problem]} if problem else {})
        resolved.append((given, line))
    if any(errors):
        raise _line_errors("Some lines are not lines of this order.", "unknown_line", errors)
    errors = []
    for _, line in resolved:
        errors.append({"line_id": [f"Line {line.pk} ({line.sku_code}) is given twice."]} if line.pk in seen else {})
        seen.add(line.pk)
    if any(errors):
        raise _line_errors("An order line appears twice; give its total quantity once.", "duplicate_line", errors)
    already = returned_quantities(order_id=order.pk)
    errors = []
    for given, line in resolved:
        left = line.quantity - already.get(line.pk, 0)
        if given.quantity > left:
            errors.append(
                {
                    "quantity": [
                        f"At most {max(left, 0)} unit(s) of {line.sku_code} can be returned "
                        f"({line.quantity} ordered, {already.get(line.pk, 0)} already in other returns)."
                    ]
                }
            )
        else:
            errors.append({})
    if any(errors):
        raise _line_errors(
            "A line returns more units than were ordered and not yet returned.", "quantity_exceeds_returnable", errors
        )
    return resolved


def _check_returnable(order: Order, now: datetime) -> None:
    if order.status == OrderStatus.COMPLETED or (
        order.status == OrderStatus.DELIVERED
        and (order.return_window_ends_at is None or order.return_window_ends_at <= now)
    ):
        ends = order.return_window_ends_at
        when = f" on {local_time(ends)}" if ends else ""
        raise TransitionRefused(f"Order {order.pk}'s return window closed{when}.", code="return_window_closed")
    if order.status != OrderStatus.DELIVERED:
        raise TransitionRefused(
            f"Order {order.pk} is {order.get_status_display().lower()}; only a delivered order can be returned.",
            code="not_delivered",
        )


def return_create(
    *,
    order_id: int,
    type: str,
    reason: str,
    lines: list[ReturnLineInput],
    actor: Actor,
    external_id: str = "",
    buyer_note: str = "",
    requested_by: str = RequestedBy.BUYER,
    respond_by: datetime | None = None,
) -> tuple[ReturnRequest, bool]:
    """Record a buyer's return request for a delivered order; return ``(return, created)``.

    ``respond_by`` is the marketplace's own deadline for the seller's answer,
    when it sets one (R16); else ``RETURN_RESPONSE_WINDOW`` from now.

    Refused: an order not delivered (``not_delivered``, 409) or past its return
    window (``return_window_closed``, 409); a line that is not the order's
    (``unknown_line``) or asks for more units than were ordered less those in
    other returns that still count (``quantity_exceeds_returnable``; both 400,
    with the faulty lines in ``errors``). With an ``external_id``, asking again
    for the same order returns the first return unchanged (``created`` False).
    Who may ask: the order's partner, staff with ``returns.add_returnrequest``, the system.
    """
    if type not in ReturnType.values:
        raise InvalidInput(
            f"Unknown return type {type!r}; use one of {', '.join(ReturnType.values)}.", code="invalid_type"
        )
    if requested_by not in RequestedBy.values:
        raise InvalidInput(f"Unknown requester {requested_by!r}.", code="invalid")
    reason = _clean_text(reason, limit=REASON_MAX, field="reason", required=True)
    buyer_note = _clean_text(buyer_note, limit=BUYER_NOTE_MAX, field="buyer_note")
    external_id = _clean_text(external_id, limit=EXTERNAL_ID_MAX, field="external_id")
    _check_lines(lines)
    with transaction.atomic():
        try:
            order = lock_order(order_id)
        except Order.DoesNotExist:
            raise NotFound(f"Order {order_id} not found.") from None
        require_relay(
            order, actor, staff_permission=CREATE_PERMISSION, message="You do not have permission to create returns."
        )
        if external_id:
            existing = ReturnRequest.objects.filter(order=order, external_id=external_id).first()
            if existing is not None:
                return existing, False
        now = timezone.now()
        _check_returnable(order, now)
        resolved = _resolve_lines(order, lines)
        ret = ReturnRequest.objects.create(
            order=order,
            seller_id=order.seller_id,
            external_id=external_id,
            type=type,
            requested_by=requested_by,
            reason=reason,
            buyer_note=buyer_note,
            requested_at=now,
            respond_by=respond_by or now + settings.RETURN_RESPONSE_WINDOW,
        )
        ReturnLine.objects.bulk_create(
            [ReturnLine(return_request=ret, order_line=line, quantity=given.quantity) for given, line in resolved]
        )
        ret.order = order
        units = sum(given.quantity for given, _ in resolved)
        return_event_record(ret, action="requested", from_status="", actor=actor, note=ret.reason_label)
        order_touch(
            order=order,
            action=OrderAction.RETURN_REQUESTED,
            actor=actor,
            note=f"return #{ret.pk}: {ret.get_type_display().lower()}, {units} unit(s): {ret.reason_label}",
        )
        webhook_return_status_changed(ret=ret, from_status=None)
        # R13: the seller hears about it at once, by email, after commit.
        enqueue_on_commit("returns.tasks.request_waiting_email", "return", ret.pk)
    return ret, True


# --- the seller's answer ------------------------------------------------------------------------


def _approve_locked(order: Order, ret: ReturnRequest, *, actor: Actor, note: str = "", auto: bool = False) -> None:
    """Approve (or auto-approve) a requested return; one that ships back then waits for the parcel.

    Precondition: the caller holds the order's lock, then the return's.
    """
    decided = ["decided_at", "decided_by", "decision_note"]
    if auto:
        return_transition_apply(ret, "auto_approve", actor=actor, fields=decided, code="not_pending")
    else:
        return_transition_apply(
            ret,
            "approve",
            actor=actor,
            fields=decided,
            args={"by": str(actor), "note": note},
            note=note,
            code="not_pending",
        )
    if ret.ships_back:
        return_transition_apply(ret, "await_shipment", actor=actor, fields=[])
    next_step = "waiting for the buyer to send it back" if ret.ships_back else "waiting for the refund decision"
    order_touch(
        order=order,
        action=OrderAction.RETURN_AUTO_APPROVED if auto else OrderAction.RETURN_APPROVED,
        actor=actor,
        note=f"return #{ret.pk} approved{' automatically' if auto else ''}; {next_step}",
    )


def return_approve(*, return_id: int, actor: Actor, note: str = "") -> ReturnRequest:
    """The seller (or staff for the seller) accepts a requested return.

    Already approved (by hand or automatically, and whatever came after) is a
    no-op; a rejected one is refused with ``not_pending`` (409).
    """
    note = (note or "").strip()[:NOTE_MAX]
    with transaction.atomic():
        order, ret = lock_order_and_return(return_id)
        require_decider(ret, actor)
        if ret.status in APPROVED_OR_LATER:
            return ret
        if ret.status != ReturnStatus.REQUESTED:
            raise TransitionRefused(f"Return {ret.pk} was {ret.get_status_display().lower()}.", code="not_pending")
        _approve_locked(order, ret, actor=actor, note=note)
        hooks.marketplace().return_decided(
            ret=ret, decision="approve", amount=None, full=None, reason=note, actor=actor
        )
    return ret


def return_reject(*, return_id: int, actor: Actor, reason: str) -> ReturnRequest:
    """The seller (or staff for the seller) refuses a requested return, saying why (the buyer is told).

    Rejecting a rejected return is a no-op. Refused with ``not_pending`` once it
    was approved, and with ``response_window_over`` after ``respond_by``: by then
    the marketplace has approved it (the timer records that on its next pass).
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Give the reason for rejecting the return; the buyer is told.", code="reason_required")
    reason = reason[:NOTE_MAX]
    with transaction.atomic():
        order, ret = lock_order_and_return(return_id)
        require_decider(ret, actor)
        if ret.status == ReturnStatus.REJECTED:
            return ret
        if ret.status != ReturnStatus.REQUESTED:
            raise TransitionRefused(
                f"Return {ret.pk} is already {ret.get_status_display().lower()}.", code="not_pending"
            )
        if ret.respond_by <= timezone.now():
            raise TransitionRefused(
                f"Return {ret.pk} was not answered by {local_time(ret.respond_by)}, so it is approved automatically.",
                code="response_window_over",
            )
        return_transition_apply(
            ret,
            "reject",
            actor=actor,
            fields=["decided_at", "decided_by", "decision_note", "resolved_at"],
            args={"by": str(actor), "note": reason},
            note=reason,
            code="not_pending",
        )
        order_touch(
            order=order, action=OrderAction.RETURN_REJECTED, actor=actor, note=f"return #{ret.pk} rejected: {reason}"
        )
        hooks.marketplace().return_decided(
            ret=ret, decision="reject", amount=None, full=None, reason=reason, actor=actor
        )
    return ret


# --- auto-approval at respond_by (R11) -------------------------------------------------------------


def _auto_approve_due(ret: ReturnRequest) -> None:
    """Timer handler: ``ret`` is locked (SKIP LOCKED) and re-checked as requested and due.

    The order is taken with SKIP LOCKED (``lock_order_unless_busy``): if someone
    holds it, this raises ``OrderBusy`` (written to the return's ``timer_error``)
    and the next pass tries again.
    """
    order = lock_order_unless_busy(ret.order_id)
    ret.order = order
    if not can_proceed(ret.auto_approve):
        raise TransitionRefused(f"Return {ret.pk} is not due until {local_time(ret.respond_by)}.")
    _approve_locked(order, ret, actor=TIMER, auto=True)


def process_due_returns(*, now: datetime) -> int:
    """Auto-approve return requests whose ``respond_by`` has passed; returns how many.

    Safe to run late, twice, or on many workers at once: each due return is
    locked with SKIP LOCKED and re-checked as requested and due under the lock.
    """
    return process_due(
        model=ReturnRequest,
        deadline="respond_by",
        now=now,
        handle=_auto_approve_due,
        status=ReturnStatus.REQUESTED,
        owns_error=True,
    )
