"""Giving a seller's money back: for a cancelled order (R7), on request (returns, Finance), or as Stripe reports.

A refund is written as an intent (``pending``) in the transaction that decides
it, with the payment locked, and sent to Stripe by a task after commit with
the idempotency key ``refund-<id>``. If Stripe cannot be reached it is retried
on a backoff by the timer; a definitive refusal is recorded as ``failed`` for
Finance to look at.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from core.actors import Actor
from core.errors import InvalidInput, NotFound, PermissionRefused, TransitionRefused
from core.money import money
from core.tasks import enqueue_on_commit
from payments import stripe_client
from payments.locks import lock_payment, lock_refund
from payments.models import LedgerMethod, Payment, PaymentOrder, PaymentStatus, Refund, RefundKind, RefundStatus
from payments.services.common import payment_event_record, transition_apply
from payments.stripe_client import StripeDeclined, StripeUnavailable

logger = logging.getLogger(__name__)

# When Stripe cannot be reached, try again after these delays (the last one repeats).
REFUND_RETRY_BACKOFF = [
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
]
REFUNDABLE = (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED)


def _outstanding(queryset) -> int:
    return queryset.exclude(status=RefundStatus.FAILED).aggregate(total=Sum("amount"))["total"] or 0


def refund_request(
    *, payment: Payment, amount: int, kind: str, reason: str, actor: Actor, allocation: PaymentOrder | None = None
) -> Refund | None:
    """Write a refund intent and send it to Stripe after commit; return it (None if nothing is left to give back).

    A payment made by bank transfer is refunded the same way: the refund is
    written as owed (``pending``, method ``bank_transfer``) and Finance records
    the transfer it sends (``refund_bank_transfer_record``); Stripe is not involved.
    For a cancelled order the refund is its share, once: repeating the request
    returns the first refund. Precondition: inside ``transaction.atomic()`` with
    ``payment`` locked (and, when called for an order, the order locked before it).
    """
    if kind == RefundKind.ORDER_CANCELLED and allocation is not None:
        existing = Refund.objects.filter(allocation=allocation, kind=RefundKind.ORDER_CANCELLED).first()
        if existing is not None:
            return existing
    left = payment.amount - _outstanding(payment.refunds.all())
    if allocation is not None:
        left = min(left, allocation.amount - _outstanding(allocation.refunds.all()))
    if kind == RefundKind.ORDER_CANCELLED:
        amount = min(amount, left)
        if amount <= 0:
            return None
    elif amount <= 0:
        raise InvalidInput("A refund must be more than zero.", code="invalid_amount")
    elif amount > left:
        raise InvalidInput(f"At most {money(left)} can still be refunded.", code="exceeds_refundable")
    by_card = payment.method == LedgerMethod.CARD
    refund = Refund.objects.create(
        payment=payment,
        allocation=allocation,
        kind=kind,
        method=payment.method,
        amount=amount,
        reason=reason[:500],
        next_attempt_at=timezone.now() + settings.PAYMENT_STALE_AFTER if by_card else None,
        created_by=str(actor)[:250],
        user=actor.user,
    )
    payment_event_record(
        seller=payment.seller_id,
        action="refund_requested" if by_card else "refund_owed",
        actor=actor,
        payment=payment,
        refund=refund,
        to_status=refund.status,
        note=f"{money(amount)}: {reason}" + ("" if by_card else " (to send by bank transfer)"),
    )
    if by_card:
        enqueue_on_commit("payments.tasks.refund_send", refund.pk)
    return refund


def payment_refund(
    *,
    payment_id: int,
    amount: int,
    actor: Actor,
    reason: str,
    order_id: int | None = None,
    kind: str = RefundKind.MANUAL,
) -> Refund:
    """Refund part or all of a succeeded payment (returns, Finance); ``order_id`` ties it to that order's share.

    Staff need the ``payments.refund_payment`` permission. A card payment's
    money goes back through Stripe after commit; the payment becomes
    ``partially_refunded`` or ``refunded`` when Stripe confirms. A bank
    transfer's refund is owed until Finance records the transfer it sent.
    """
    if actor.kind == "staff" and (actor.user is None or not actor.user.has_perm("payments.refund_payment")):
        raise PermissionRefused("You do not have permission to refund payments.")
    if actor.kind in ("seller", "partner"):
        raise PermissionRefused("Refunds are made by staff.")
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidInput("The amount is in minor units (an integer).", code="invalid_amount")
    with transaction.atomic():
        try:
            payment = lock_payment(payment_id)
        except Payment.DoesNotExist:
            raise NotFound("No such payment.", code="payment_not_found") from None
        if payment.status not in REFUNDABLE:
            raise TransitionRefused(
                f"Payment {payment.pk} is {payment.get_status_display().lower()}; only a payment that went through "
                "can be refunded.",
                code="not_refundable",
            )
        allocation = None
        if order_id is not None:
            allocation = payment.allocations.filter(order_id=order_id).first()
            if allocation is None:
                raise NotFound(f"Order {order_id} is not part of payment {payment.pk}.", code="order_not_in_payment")
        return refund_request(
            payment=payment,
            amount=amount,
            kind=kind,
            reason=reason or "refund",
            actor=actor,
            allocation=allocation,
        )


def refund_send(*, refund_id: int, actor: Actor) -> Refund:
    """Send a refund to Stripe (or send it again after a crash: the idempotency key makes that safe).

    Precondition: no transaction holds locks (this calls Stripe).
    """
    now = timezone.now()
    with transaction.atomic():
        refund = lock_refund(refund_id)
        if refund.method != LedgerMethod.CARD:
            return refund  # sent by Finance, by bank transfer
        if refund.status == RefundStatus.PENDING:
            transition_apply(refund, "start", actor=actor, fields=["attempts", "next_attempt_at"], args={"now": now})
        elif refund.status == RefundStatus.PROCESSING:
            refund.next_attempt_at = now + settings.PAYMENT_STALE_AFTER
            refund.save(update_fields=["next_attempt_at"])
        else:
            return refund
        payment = refund.payment
    try:
        answer = stripe_client.refund_create(
            payment_intent_id=payment.stripe_payment_intent_id,
            amount=refund.amount,
            metadata={"refund_id": str(refund.pk), "payment_id": str(payment.pk)},
            idempotency_key=refund.idempotency_key,
        )
    except StripeDeclined as exc:
        return _refund_record(refund_id=refund.pk, refund_stripe_id="", ok=False, error=exc.message, actor=actor)
    except StripeUnavailable as exc:
        return _refund_retry_later(refund_id=refund.pk, error=str(exc), actor=actor)
    ok = answer.get("status") in ("succeeded", "pending")
    error = "" if ok else (answer.get("failure_reason") or f"Stripe says the refund {answer.get('status')}")
    return _refund_record(refund_id=refund.pk, refund_stripe_id=answer.get("id", ""), ok=ok, error=error, actor=actor)


def _refund_retry_later(*, refund_id: int, error: str, actor: Actor) -> Refund:
    with transaction.atomic():
        refund = lock_refund(refund_id)
        if refund.status != RefundStatus.PROCESSING:
            return refund
        delay = REFUND_RETRY_BACKOFF[min(refund.attempts, len(REFUND_RETRY_BACKOFF)) - 1]
        transition_apply(
            refund,
            "retry_later",
            actor=actor,
            fields=["next_attempt_at", "last_error"],
            args={"at": timezone.now() + delay, "error": error},
            note=error,
        )
    return refund


def _refund_record(*, refund_id: int, refund_stripe_id: str, ok: bool, error: str, actor: Actor) -> Refund:
    payment_id = Refund.objects.values_list("payment_id", flat=True).get(pk=refund_id)
    with transaction.atomic():
        payment = lock_payment(payment_id)
        refund = lock_refund(refund_id)
        if refund.status not in (RefundStatus.PENDING, RefundStatus.PROCESSING):
            return refund
        if ok:
            refund_succeeded(payment, refund, refund_stripe_id=refund_stripe_id, actor=actor)
        else:
            logger.error("refund %s of payment %s refused by Stripe: %s", refund.pk, payment.pk, error)
            transition_apply(
                refund,
                "fail",
                actor=actor,
                fields=["last_error", "completed_at", "next_attempt_at"],
                args={"error": error, "now": timezone.now()},
                note=error,
            )
    return refund


def refund_succeeded(payment: Payment, refund: Refund, *, refund_stripe_id: str, actor: Actor) -> None:
    """Precondition: payment, then refund, locked."""
    transition_apply(
        refund,
        "succeed",
        actor=actor,
        fields=["stripe_refund_id", "completed_at", "next_attempt_at", "last_error"],
        args={"refund_id": refund_stripe_id, "now": timezone.now()},
    )
    payment_refunded(payment, refund.amount, allocation_id=refund.allocation_id, actor=actor)


def payment_refunded(payment: Payment, amount: int, *, allocation_id: int | None, actor: Actor) -> None:
    amount = min(amount, payment.refundable)
    if amount <= 0 or payment.status not in REFUNDABLE:
        return
    transition_apply(payment, "record_refund", actor=actor, fields=["amount_refunded"], args={"amount": amount})
    if allocation_id is not None:
        allocation = PaymentOrder.objects.get(pk=allocation_id)
        PaymentOrder.objects.filter(pk=allocation_id).update(
            amount_refunded=min(allocation.amount, allocation.amount_refunded + amount)
        )
