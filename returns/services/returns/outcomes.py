"""How a return ends: Finance's refund decision, a replacement order, a rejection after inspection, closing.

The refund is the seller's wholesale cost coming back (the buyer's own refund
is the marketplace's business). Finance decides the amount, in full or in
part, up to what is left of the order's share of its Stripe payment; 0 records
"no refund". The refund itself goes through ``payments.services.payment_refund``:
it writes the refund intent under the payment's lock (taken after the order and
the return) and Stripe is called after commit, never under our locks.

A replacement is a new order for the received units (``orders.services.order_replacement_create``):
same partner, seller, buyer and address, external id ``<original>-R<return id>``,
stock reserved as at intake, straight into ``ready_to_fulfill``. The seller's
original payment covers it: it never waits for checkout, Auto Checkout never
takes it, and no payment row is ever written for it.
"""

from __future__ import annotations

from django.db import transaction
from django_fsm import can_proceed

from core.actors import Actor
from core.errors import InvalidInput, TransitionRefused
from core.money import money
from orders import hooks
from orders.models import OrderAction
from orders.services import order_replacement_create, order_touch
from payments.models import RefundKind
from payments.services import payment_refund
from returns.models import ReturnRequest, ReturnStatus, ReturnType
from returns.selectors import return_refund_share
from returns.services.returns.common import (
    DECIDE_PERMISSION,
    RECEIVE_PERMISSION,
    REFUND_PERMISSION,
    lock_order_and_return,
    require_staff,
    return_transition_apply,
)

NOTE_MAX = ReturnRequest._meta.get_field("resolution_note").max_length


# --- the refund decision (Finance) ----------------------------------------------------------------


def return_refund_decide(*, return_id: int, amount: int, actor: Actor, note: str = "") -> ReturnRequest:
    """Finance decides the seller's refund for a return: ``amount`` in minor units, 0 for none. The return
    is ``refunded`` (also with 0: the decision is recorded) and, above 0, the money goes back to the
    seller's card through Stripe after commit.

    When: a ``return_and_refund`` once inspected, a ``refund_only`` once
    approved (``not_ready_for_refund`` otherwise; ``replacement_return`` for a
    replacement). Capped at what is left of the order's share of its payment
    (``exceeds_refundable``). An order the seller paid by bank transfer is
    refunded by bank transfer: the refund is owed until Finance records the
    transfer it sent, with the real amount. A free replacement order has
    nothing to refund (``replacement_not_charged``): record 0 then.
    Deciding again is a no-op that returns the first decision. Finance
    (``returns.refund_returnrequest``, and ``payments.refund_payment`` to move money).
    """
    require_staff(actor, REFUND_PERMISSION, "Only Finance may decide the refund of a return.")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise InvalidInput("The amount is a whole number of minor units, 0 or more.", code="invalid_amount")
    note = (note or "").strip()[:NOTE_MAX]
    with transaction.atomic():
        order, ret = lock_order_and_return(return_id)
        if ret.status == ReturnStatus.REFUNDED or (ret.refund_amount is not None and ret.resolved_at is not None):
            return ret
        if not can_proceed(ret.decide_refund):
            if ret.type == ReturnType.REPLACEMENT:
                raise TransitionRefused(
                    f"Return {ret.pk} is a replacement; it ends in a new order, not a refund.",
                    code="replacement_return",
                )
            when = "once approved" if ret.type == ReturnType.REFUND_ONLY else "once the parcel is inspected"
            raise TransitionRefused(
                f"Return {ret.pk} is {ret.get_status_display().lower()}; its refund is decided {when}.",
                code="not_ready_for_refund",
            )
        refund, full = None, None
        if amount:
            share = return_refund_share(ret)
            full = share.refundable
            if share.problem:
                raise TransitionRefused(share.detail, code=share.problem)
            if amount > share.refundable:
                raise InvalidInput(
                    f"At most {money(share.refundable)} of order {order.pk}'s payment can still be refunded.",
                    code="exceeds_refundable",
                )
            refund = payment_refund(
                payment_id=share.payment_id,
                amount=amount,
                actor=actor,
                order_id=order.pk,
                kind=RefundKind.RETURN,
                reason=f"return #{ret.pk} of order {order.pk}" + (f": {note}" if note else ""),
            )
        what = f"{money(amount)} refunded to the seller" if amount else "no refund to the seller"
        return_transition_apply(
            ret,
            "decide_refund",
            actor=actor,
            fields=["refund_amount", "refund", "resolved_at", "resolution_note"],
            args={"amount": amount, "refund": refund, "note": note},
            note=note or what,
            data={"amount": amount, "refund_id": refund.pk if refund is not None else None},
        )
        order_touch(order=order, action=OrderAction.RETURN_REFUNDED, actor=actor, note=f"return #{ret.pk}: {what}")
        hooks.marketplace().return_decided(
            ret=ret, decision="refund", amount=amount, full=full, reason=note, actor=actor
        )
    return ret


# --- replacement --------------------------------------------------------------------------------


def return_replace(*, return_id: int, actor: Actor, note: str = "") -> ReturnRequest:
    """Ship the received units of an inspected ``replacement`` return again, in a new linked order
    (see the module docstring). The return is ``replaced``.

    Refused: another type (``not_a_replacement``), not inspected yet
    (``not_inspected``), nothing received (``nothing_to_replace``: reject it
    after inspection instead). Replacing again is a no-op. Support
    (``returns.decide_returnrequest``).
    """
    require_staff(actor, DECIDE_PERMISSION, "You do not have permission to decide returns.")
    note = (note or "").strip()[:NOTE_MAX]
    with transaction.atomic():
        order, ret = lock_order_and_return(return_id)
        if ret.status == ReturnStatus.REPLACED:
            return ret
        if ret.type != ReturnType.REPLACEMENT:
            raise TransitionRefused(f"Return {ret.pk} is not a replacement.", code="not_a_replacement")
        if ret.status != ReturnStatus.INSPECTED:
            raise TransitionRefused(
                f"Return {ret.pk} is {ret.get_status_display().lower()}; it is replaced once inspected.",
                code="not_inspected",
            )
        units = [
            (line.order_line.sku_code, line.received_quantity)
            for line in ret.lines.select_related("order_line").order_by("pk")
            if line.received_quantity
        ]
        if not units:
            raise TransitionRefused(
                f"Nothing came back in return {ret.pk}, so there is nothing to replace; reject it after inspection "
                "instead.",
                code="nothing_to_replace",
            )
        replacement = order_replacement_create(
            original=order,
            lines=units,
            reference=f"R{ret.pk}",
            actor=actor,
            note=f"replaces return #{ret.pk} of order {order.pk}; no charge to the seller",
        )
        return_transition_apply(
            ret,
            "replace",
            actor=actor,
            fields=["replacement_order", "resolved_at", "resolution_note"],
            args={"order": replacement, "note": note},
            note=note or f"replacement order {replacement.pk}",
            data={"replacement_order_id": replacement.pk},
        )
        order_touch(
            order=order,
            action=OrderAction.RETURN_REPLACED,
            actor=actor,
            note=f"return #{ret.pk}: replacement order {replacement.pk} ({replacement.external_id})",
        )
    return ret


# --- rejection after inspection, closing -----------------------------------------------------------


def return_reject_after_inspection(*, return_id: int, reason: str, actor: Actor) -> ReturnRequest:
    """What came back does not qualify (wrong item, used, parts missing): the return is rejected, saying
    why (the buyer is told). Units inspected as resellable stay in stock.

    Only once inspected (``not_inspected``). Rejecting again is a no-op.
    Support, or Warehouse staff who inspected it.
    """
    require_staff(actor, (DECIDE_PERMISSION, RECEIVE_PERMISSION), "You do not have permission to reject returns.")
    reason = (reason or "").strip()[:NOTE_MAX]
    if not reason:
        raise InvalidInput("Give the reason for rejecting the return; the buyer is told.", code="reason_required")
    with transaction.atomic():
        order, ret = lock_order_and_return(return_id)
        if ret.status == ReturnStatus.REJECTED_AFTER_INSPECTION:
            return ret
        return_transition_apply(
            ret,
            "reject_after_inspection",
            actor=actor,
            fields=["resolved_at", "resolution_note"],
            args={"note": reason},
            note=reason,
            code="not_inspected",
        )
        order_touch(
            order=order,
            action=OrderAction.RETURN_REJECTED_AFTER_INSPECTION,
            actor=actor,
            note=f"return #{ret.pk} rejected after inspection: {reason}",
        )
        hooks.marketplace().return_decided(
            ret=ret, decision="reject_received", amount=None, full=None, reason=reason, actor=actor
        )
    return ret


def return_close(*, return_id: int, actor: Actor, note: str = "") -> ReturnRequest:
    """Nothing is left to do: after the refund decision, the replacement or a rejection after inspection.
    Also when the buyer never sent the parcel back (from ``awaiting_return_shipment``; say so in
    ``note``, which is then required): its units count as not returned.

    Closing a closed return is a no-op; anything else is ``not_closable``. A
    delivered order past its return window completes on the next timer pass once
    none of its returns is open. Support (``returns.decide_returnrequest``).
    """
    require_staff(actor, DECIDE_PERMISSION, "You do not have permission to close returns.")
    note = (note or "").strip()[:NOTE_MAX]
    with transaction.atomic():
        order, ret = lock_order_and_return(return_id)
        if ret.status == ReturnStatus.CLOSED:
            return ret
        if ret.status == ReturnStatus.AWAITING_RETURN_SHIPMENT and not note:
            raise InvalidInput("Say why the return is closed before the parcel came back.", code="reason_required")
        return_transition_apply(
            ret,
            "close",
            actor=actor,
            fields=["closed_at", "resolution_note"],
            args={"note": note},
            note=note,
            code="not_closable",
        )
        order_touch(
            order=order,
            action=OrderAction.RETURN_CLOSED,
            actor=actor,
            note=f"return #{ret.pk} closed" + (f": {note}" if note else ""),
        )
    return ret
