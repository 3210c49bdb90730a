"""Stripe's webhooks, through dj-stripe's endpoint (``/stripe/webhook/<uuid>/``).

dj-stripe verifies the signature with the endpoint's secret, stores the Event
once (a replayed event id is not processed again), syncs its own copy of the
object, and then sends the signals these receivers listen to. We reconcile our
payments from the event's object with the same services our own calls use, so
whichever comes first (our call's answer or the webhook) records the outcome
and the other changes nothing.
"""

from __future__ import annotations

import logging

from djstripe.signals import WEBHOOK_SIGNALS

from core.actors import Actor
from payments.models import Payment
from payments.services.outcomes import Outcome, payment_outcome_record
from payments.services.reconcile import payment_refunds_reconcile

logger = logging.getLogger(__name__)
STRIPE = Actor.system("stripe_webhook")

PAYMENT_INTENT_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.requires_action")


def on_payment_intent_event(sender, event, **kwargs) -> None:
    intent = event.data.get("object") or {}
    payment = _payment_for_intent(intent)
    if payment is None:
        logger.info("stripe event %s (%s): not one of our payments", event.id, event.type)
        return
    payment_outcome_record(payment_id=payment.pk, outcome=Outcome.from_intent(intent), actor=STRIPE)


def _payment_for_intent(intent: dict):
    """Our payment for a PaymentIntent: by its id, or by our ``payment_id`` metadata when the event beat our own
    record."""
    intent_id = intent.get("id") or ""
    payment = Payment.objects.filter(stripe_payment_intent_id=intent_id).first() if intent_id else None
    if payment is not None:
        return payment
    payment_id = str((intent.get("metadata") or {}).get("payment_id") or "")
    if not payment_id.isdigit():
        return None
    payment = Payment.objects.filter(pk=int(payment_id), stripe_customer_id=intent.get("customer") or "").first()
    if payment is not None and payment.stripe_payment_intent_id and payment.stripe_payment_intent_id != intent_id:
        return None
    return payment


def on_charge_refunded(sender, event, **kwargs) -> None:
    charge = event.data.get("object") or {}
    if charge.get("object") == "charge":
        payment_refunds_reconcile(charge=charge, actor=STRIPE)


def connect() -> None:
    for name in PAYMENT_INTENT_EVENTS:
        WEBHOOK_SIGNALS[name].connect(on_payment_intent_event, dispatch_uid=f"payments-{name}")
    WEBHOOK_SIGNALS["charge.refunded"].connect(on_charge_refunded, dispatch_uid="payments-charge.refunded")
