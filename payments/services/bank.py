"""Money that moves by bank transfer, recorded by Finance: the seller's payment for orders, and refunds sent.

Both are entries of the seller's ledger like card payments and card refunds:
a ``Payment`` or ``Refund`` with ``method = bank_transfer``, the real amount,
the bank's reference and the date. Nothing here calls Stripe.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import InvalidInput, NotFound, PermissionRefused, TransitionRefused
from core.money import money
from orders.models import Order, OrderStatus
from orders.services import order_seller_paid_locked
from payments.locks import lock_orders, lock_payment, lock_refund
from payments.models import (
    LedgerMethod,
    Payment,
    PaymentOrder,
    PaymentStatus,
    PaymentTrigger,
    Refund,
    RefundStatus,
)
from payments.selectors import active_allocations, currency, order_costs
from payments.services.common import payment_event_record, transition_apply
from payments.services.refunds import payment_refunded

RECORD_PAYMENT_PERMISSION = "orders.record_seller_payment"
REFUND_PERMISSION = "payments.refund_payment"
REFERENCE_MAX = Payment._meta.get_field("reference").max_length


def _finance(actor: Actor, permission: str, message: str) -> None:
    if actor.kind == "system":
        return
    if actor.user is None or not actor.user.has_perm(permission):
        raise PermissionRefused(message)


def _reference(reference: str) -> str:
    reference = (reference or "").strip()
    if not reference:
        raise InvalidInput("Give the payment reference (e.g. the bank transfer id).", code="reference_required")
    return reference[:REFERENCE_MAX]


def _day(value: datetime.date | None) -> datetime.date:
    day = value or timezone.localdate()
    if day > timezone.localdate():
        raise InvalidInput("The date of a bank transfer cannot be in the future.", code="in_future")
    return day


def bank_transfer_record(
    *,
    order_id: int,
    reference: str,
    actor: Actor,
    amount: int | None = None,
    received_on: datetime.date | None = None,
) -> Order:
    """Record that the seller paid an order's wholesale cost by bank transfer: a ledger entry (the amount,
    by default the order's cost; the reference; the day it arrived) and the order paid.

    In ``awaiting_checkout`` the order becomes ``ready_to_fulfill`` at once;
    during the hold the payment is noted and takes effect when the hold ends
    (R4). An order already paid is left as it is (a no-op). Refused: no
    reference (``reference_required``), an order not on hold nor awaiting
    checkout (``seller_payment_not_expected``), a card payment under way
    (``in_progress``). Finance (``orders.record_seller_payment``).
    """
    _finance(actor, RECORD_PAYMENT_PERMISSION, "Only Finance may record a seller's payment.")
    reference = _reference(reference)
    received_on = _day(received_on)
    if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0):
        raise InvalidInput("The amount is a whole number of minor units, more than 0.", code="invalid_amount")
    with transaction.atomic():
        orders = lock_orders([order_id])
        if not orders:
            raise NotFound(f"Order {order_id} not found.")
        order = orders[0]
        if order.seller_paid_at is not None:
            return order
        if order.status not in (OrderStatus.ON_HOLD, OrderStatus.AWAITING_CHECKOUT):
            raise TransitionRefused(
                f"Order {order.pk} is {order.get_status_display().lower()}; a seller payment is only taken during "
                "the hold or while awaiting checkout.",
                code="seller_payment_not_expected",
            )
        if active_allocations([order.pk]):
            raise TransitionRefused(
                f"A card payment for order {order.pk} is under way; wait for its outcome.", code="in_progress"
            )
        amount = amount if amount is not None else order_costs([order])[order.pk].amount
        if amount <= 0:
            raise InvalidInput(f"Give the amount received for order {order.pk}.", code="invalid_amount")
        now = timezone.now()
        payment = Payment.objects.create(
            seller_id=order.seller_id,
            method=LedgerMethod.BANK_TRANSFER,
            trigger=PaymentTrigger.RECORDED,
            status=PaymentStatus.SUCCEEDED,
            amount=amount,
            currency=currency(),
            reference=reference,
            received_on=received_on,
            succeeded_at=now,
            created_by=str(actor)[:250],
            user=actor.user,
        )
        PaymentOrder.objects.create(payment=payment, order=order, amount=amount, active=True)
        payment_event_record(
            seller=order.seller_id,
            action="bank_transfer_recorded",
            actor=actor,
            payment=payment,
            to_status=payment.status,
            note=f"{money(amount)} for order {order.pk}, reference {reference}, received {received_on:%Y-%m-%d}",
        )
        order_seller_paid_locked(order=order, reference=reference, note=f"bank transfer {reference}", actor=actor)
    return order


def refund_bank_transfer_record(
    *,
    refund_id: int,
    reference: str,
    actor: Actor,
    amount: int | None = None,
    sent_on: datetime.date | None = None,
) -> Refund:
    """Record the bank transfer Finance sent for a refund owed on a payment made by bank transfer: the real
    amount (at most what was owed), its reference and date. The refund is then ``succeeded`` and the
    payment ``partially_refunded`` or ``refunded``, as for a card.

    Recording it again is a no-op. Refused: a card refund (``not_bank_transfer``),
    a failed one (``not_pending``), an amount above what is owed (``exceeds_refundable``).
    Finance (``payments.refund_payment``).
    """
    _finance(actor, REFUND_PERMISSION, "You do not have permission to refund payments.")
    reference = _reference(reference)
    sent_on = _day(sent_on)
    payment_id = Refund.objects.filter(pk=refund_id).values_list("payment_id", flat=True).first()
    if payment_id is None:
        raise NotFound("No such refund.", code="refund_not_found")
    with transaction.atomic():
        payment = lock_payment(payment_id)
        refund = lock_refund(refund_id)
        refund.payment = payment
        if refund.method != LedgerMethod.BANK_TRANSFER:
            raise TransitionRefused("This refund goes back to a card through Stripe.", code="not_bank_transfer")
        if refund.status == RefundStatus.SUCCEEDED:
            return refund
        if refund.status != RefundStatus.PENDING:
            raise TransitionRefused(f"Refund {refund.pk} is {refund.get_status_display().lower()}.", code="not_pending")
        amount = refund.amount if amount is None else amount
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise InvalidInput("The amount is a whole number of minor units, more than 0.", code="invalid_amount")
        if amount > refund.amount:
            raise InvalidInput(f"At most {money(refund.amount)} is owed for this refund.", code="exceeds_refundable")
        transition_apply(
            refund,
            "record_transfer",
            actor=actor,
            fields=["amount", "reference", "sent_on", "completed_at", "next_attempt_at", "last_error"],
            args={"amount": amount, "reference": reference, "sent_on": sent_on, "now": timezone.now()},
            note=f"{money(amount)} sent by bank transfer, reference {reference}",
        )
        payment_refunded(payment, amount, allocation_id=refund.allocation_id, actor=actor)
    return refund
