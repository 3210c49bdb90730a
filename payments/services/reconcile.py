"""Bringing our refunds in line with what Stripe reports (the ``charge.refunded`` webhook)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.money import money
from payments import stripe_client
from payments.locks import lock_payment, lock_refund
from payments.models import Payment, PaymentStatus, Refund, RefundKind, RefundStatus
from payments.services.common import payment_event_record
from payments.services.outcomes import Outcome, payment_outcome_record
from payments.services.refunds import payment_refunded, refund_succeeded
from payments.stripe_client import StripeDeclined, StripeUnavailable

logger = logging.getLogger(__name__)


def payment_refunds_reconcile(*, charge: dict, actor: Actor) -> Payment | None:
    """Bring a payment's refunds in line with a Stripe charge (the ``charge.refunded`` webhook).

    Our own refunds are matched by id (or by the ``refund_id`` metadata when
    Stripe's webhook beats our own record); refunds made elsewhere (the Stripe
    dashboard) are recorded as ``external``. Seeing the same charge again changes nothing.
    """
    intent_id = charge.get("payment_intent")
    intent_id = intent_id.get("id") if isinstance(intent_id, dict) else intent_id
    payment = Payment.objects.filter(stripe_payment_intent_id=intent_id).first() if intent_id else None
    if payment is None and charge.get("id"):
        payment = Payment.objects.filter(stripe_charge_id=charge["id"]).first()
    if payment is None:
        logger.info("charge %s refunded: no payment of ours", charge.get("id"))
        return None
    # Ask Stripe first: no lock of ours may be held during the call (webhooks run in one transaction).
    listed = charge.get("refunds") or {}
    if isinstance(listed, dict) and "data" in listed and not listed.get("has_more"):
        stripe_refunds = listed["data"]
    else:
        try:
            stripe_refunds = stripe_client.refund_list_for_charge(charge["id"])
        except (StripeDeclined, StripeUnavailable):
            logger.warning("charge %s: could not list its refunds; the next event will catch up", charge.get("id"))
            return payment
    if (
        payment.status in (PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_ACTION)
        and charge.get("status") == "succeeded"
    ):
        payment = payment_outcome_record(
            payment_id=payment.pk,
            outcome=Outcome("succeeded", intent_id=intent_id or "", charge_id=charge.get("id", "")),
            actor=actor,
        )
    with transaction.atomic():
        payment = lock_payment(payment.pk)
        for item in sorted(stripe_refunds, key=lambda r: (r.get("created") or 0, r.get("id") or "")):
            if item.get("status") not in ("succeeded", "pending"):
                continue
            _reconcile_one(payment, item, actor=actor)
    return payment


def _reconcile_one(payment: Payment, item: dict, *, actor: Actor) -> None:
    """Precondition: payment locked."""
    ours = Refund.objects.filter(stripe_refund_id=item["id"]).first()
    if ours is None:
        ours_id = (item.get("metadata") or {}).get("refund_id")
        if ours_id and str(ours_id).isdigit():
            ours = Refund.objects.filter(pk=int(ours_id), payment=payment).first()
    if ours is not None:
        ours = lock_refund(ours.pk)
        if ours.status in (RefundStatus.PENDING, RefundStatus.PROCESSING):
            refund_succeeded(payment, ours, refund_stripe_id=item["id"], actor=actor)
        return
    amount = min(int(item.get("amount") or 0), payment.refundable)
    if amount <= 0:
        return
    refund = Refund.objects.create(
        payment=payment,
        kind=RefundKind.EXTERNAL,
        status=RefundStatus.SUCCEEDED,
        amount=amount,
        stripe_refund_id=item["id"],
        reason="refunded at Stripe",
        created_by=str(actor)[:250],
        completed_at=timezone.now(),
    )
    payment_event_record(
        seller=payment.seller_id,
        action="refund_external",
        actor=actor,
        payment=payment,
        refund=refund,
        to_status=refund.status,
        note=f"{money(amount)} refunded at Stripe ({item['id']})",
    )
    payment_refunded(payment, amount, allocation_id=None, actor=actor)
