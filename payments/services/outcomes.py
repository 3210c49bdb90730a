"""What Stripe said about a seller's payment, and what it does to the orders: the one place a payment
leaves ``processing``.

Every charge goes the same way (CONVENTIONS habit 4):

1. In a transaction: lock the orders, check each can be paid, write a payment
   in ``processing`` with one active share per order, commit
   (``create_processing_payment``). The partial unique constraint on active
   shares means a second charge of the same order fails here, whoever else is
   trying at the same moment.
2. With no transaction open: create and confirm the PaymentIntent at Stripe,
   with the idempotency key ``payment-<id>`` (``send``).
3. In a new transaction: lock the orders and the payment again, and record the
   outcome (``payment_outcome_record``), which Stripe's webhooks also call; the
   first to arrive wins, the other changes nothing.

A payment whose outcome never got recorded (the worker died during the call)
is settled by the timer (``payment_settle``): it reads the PaymentIntent back,
or repeats the create with the same idempotency key, which Stripe answers with
the original result instead of charging again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Seller
from core.actors import Actor
from core.errors import NotFound, TransitionRefused
from core.tasks import enqueue_on_commit
from orders.models import Order, OrderStatus
from orders.services import order_seller_paid_locked
from payments import stripe_client
from payments.declines import decline_message
from payments.locks import lock_orders, lock_payment
from payments.models import AutoCheckout, Payment, PaymentOrder, PaymentStatus, PaymentTrigger, RefundKind
from payments.notify import notify_auto_checkout_failed
from payments.selectors import (
    currency,
)
from payments.services.common import payment_event_record, transition_apply
from payments.services.refunds import refund_request
from payments.stripe_client import ChargeRequest, StripeDeclined, StripeUnavailable

logger = logging.getLogger(__name__)

# How soon a payment whose outcome Stripe did not tell us (network, outage) is asked again.
UNKNOWN_OUTCOME_RETRY = timezone.timedelta(minutes=1)


# --- outcomes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What Stripe said about one PaymentIntent, reduced to what we act on.

    ``kind``: ``succeeded``, ``failed``, ``requires_action``, ``processing``
    (Stripe is still working on it) or ``unknown`` (no answer; ask again later).
    """

    kind: str
    intent_id: str = ""
    charge_id: str = ""
    client_secret: str = ""
    code: str = ""
    message: str = ""

    @classmethod
    def from_intent(cls, intent: dict) -> Outcome:
        status = intent.get("status")
        common = {"intent_id": intent.get("id", ""), "charge_id": stripe_client.intent_charge_id(intent)}
        if status == "succeeded":
            return cls("succeeded", **common)
        if status in ("requires_action", "requires_confirmation"):
            return cls(
                "requires_action",
                client_secret=intent.get("client_secret") or "",
                code="requires_action",
                message=decline_message(code="requires_action"),
                **common,
            )
        if status in ("processing", "requires_capture"):
            return cls("processing", **common)
        code, message = stripe_client.intent_failure(intent)
        if status == "canceled" and not intent.get("last_payment_error"):
            code, message = "canceled", "The payment was cancelled before it went through."
        return cls("failed", code=code, message=message, **common)


def send(payment: Payment) -> Outcome:
    """Create and confirm the PaymentIntent for ``payment``. Precondition: no transaction holds locks."""
    request = charge_request(payment)
    try:
        intent = stripe_client.payment_intent_create(request)
    except StripeDeclined as exc:
        intent = exc.intent or {}
        return Outcome(
            "failed",
            intent_id=intent.get("id", ""),
            charge_id=stripe_client.intent_charge_id(intent),
            code=exc.code,
            message=exc.message,
        )
    except StripeUnavailable as exc:
        return Outcome("unknown", message=str(exc))
    return Outcome.from_intent(intent)


def charge_request(payment: Payment) -> ChargeRequest:
    """The PaymentIntent parameters, from the payment row alone, so a replay sends exactly the same request."""
    return ChargeRequest(
        idempotency_key=payment.idempotency_key,
        amount=payment.amount,
        currency=payment.currency,
        customer_id=payment.stripe_customer_id,
        payment_method_id=payment.stripe_payment_method_id,
        off_session=payment.trigger == PaymentTrigger.AUTO_CHECKOUT,
        metadata={"payment_id": str(payment.pk), "seller": payment.seller.code, "trigger": payment.trigger},
    )


# --- starting a payment ---------------------------------------------------------------------


def create_processing_payment(
    *,
    seller: Seller,
    orders: list[Order],
    amounts: dict[int, int],
    trigger: str,
    customer_id: str,
    payment_method_id: str,
    actor: Actor,
) -> Payment:
    """Write the payment and its active shares, and move it to ``processing``.

    Precondition: inside ``transaction.atomic()`` with ``orders`` locked and
    checked. If an order already has an active share anyway, the database
    constraint raises IntegrityError and the caller's transaction rolls back
    (callers turn it into ``in_progress``).
    """
    payment = Payment(
        seller=seller,
        trigger=trigger,
        amount=sum(amounts[o.pk] for o in orders),
        currency=currency(),
        stripe_customer_id=customer_id,
        stripe_payment_method_id=payment_method_id,
        created_by=str(actor)[:250],
        user=actor.user,
    )
    # pending → processing before the first save: the row is born in ``processing``, in one INSERT.
    payment.start(now=timezone.now())
    payment.save()
    PaymentOrder.objects.bulk_create(
        [PaymentOrder(payment=payment, order=o, amount=amounts[o.pk], active=True) for o in orders]
    )
    payment_event_record(
        seller=seller,
        action="payment_start",
        actor=actor,
        payment=payment,
        from_status=PaymentStatus.PENDING,
        to_status=payment.status,
        note=f"{trigger}: order{'s' if len(orders) > 1 else ''} {', '.join(str(o.pk) for o in orders)}",
    )
    return payment


def in_progress(_exc: IntegrityError) -> TransitionRefused:
    return TransitionRefused("A payment for this order is already under way.", code="in_progress")


def payment_intent_outcome(intent_id: str) -> Outcome:
    try:
        return Outcome.from_intent(stripe_client.payment_intent_retrieve(intent_id))
    except (StripeDeclined, StripeUnavailable) as exc:
        return Outcome("unknown", intent_id=intent_id, message=str(exc))


# --- recording an outcome ---------------------------------------------------------------------------


def payment_outcome_record(
    *, payment_id: int, outcome: Outcome, actor: Actor, order_ids: list[int] | None = None
) -> Payment:
    """Record what Stripe said about a payment: the one place a payment leaves ``processing``.

    Called after our own Stripe call, by the webhooks and by the timer that
    settles stale payments; whichever comes first records, the others find the
    payment already moved and change nothing. Orders are locked before the
    payment, as everywhere.
    """
    if order_ids is None:
        order_ids = list(PaymentOrder.objects.filter(payment_id=payment_id).values_list("order_id", flat=True))
    with transaction.atomic():
        orders = lock_orders(order_ids)
        payment = lock_payment(payment_id)
        if payment.status not in (PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_ACTION):
            return payment
        if (
            outcome.intent_id
            and payment.stripe_payment_intent_id
            and outcome.intent_id != payment.stripe_payment_intent_id
        ):
            logger.warning(
                "payment %s: outcome for %s ignored, it is %s",
                payment.pk,
                outcome.intent_id,
                payment.stripe_payment_intent_id,
            )
            return payment
        now = timezone.now()
        if outcome.kind == "succeeded":
            transition_apply(
                payment,
                "succeed",
                actor=actor,
                fields=[
                    "stripe_payment_intent_id",
                    "stripe_charge_id",
                    "succeeded_at",
                    "reconcile_at",
                    "client_secret",
                    "failure_code",
                    "failure_message",
                ],
                args={"intent_id": outcome.intent_id, "charge_id": outcome.charge_id, "now": now},
            )
            _orders_paid(payment, orders, actor=actor)
        elif outcome.kind == "failed":
            transition_apply(
                payment,
                "fail",
                actor=actor,
                fields=["stripe_payment_intent_id", "failure_code", "failure_message", "reconcile_at", "client_secret"],
                args={"intent_id": outcome.intent_id, "code": outcome.code, "message": outcome.message},
                note=outcome.message,
            )
            payment.allocations.update(active=False)
            _auto_checkout_after(payment, actor=actor)
        elif outcome.kind == "requires_action" and payment.status == PaymentStatus.PROCESSING:
            transition_apply(
                payment,
                "require_action",
                actor=actor,
                fields=["stripe_payment_intent_id", "client_secret", "failure_code", "failure_message", "reconcile_at"],
                args={
                    "intent_id": outcome.intent_id,
                    "client_secret": outcome.client_secret,
                    "code": outcome.code,
                    "message": outcome.message,
                },
                note=outcome.message,
            )
            if payment.trigger == PaymentTrigger.AUTO_CHECKOUT:
                # Nobody is there to confirm an Auto Checkout charge: cancel it at Stripe and free the
                # order, so the seller can pay it by hand (on-session, where the bank can ask them).
                payment.allocations.update(active=False)
                Payment.objects.filter(pk=payment.pk).update(client_secret="")
                enqueue_on_commit("payments.tasks.payment_cancel_intent", payment.pk)
                _auto_checkout_after(payment, actor=actor)
        elif payment.status == PaymentStatus.PROCESSING:
            # Still processing at Stripe, or no answer: look again later.
            fields = ["reconcile_at", "updated_at"]
            payment.reconcile_at = now + (
                UNKNOWN_OUTCOME_RETRY if outcome.kind == "unknown" else settings.PAYMENT_STALE_AFTER
            )
            if outcome.intent_id and not payment.stripe_payment_intent_id:
                payment.stripe_payment_intent_id = outcome.intent_id
                fields.append("stripe_payment_intent_id")
            payment.save(update_fields=fields)
    return payment


def _orders_paid(payment: Payment, orders: list[Order], *, actor: Actor) -> None:
    """The money is in: each order goes to the warehouse, or waits for its hold to end (R4).

    An order that was cancelled, or paid some other way, while the charge was
    under way gets its share refunded (R7). Precondition: orders and payment locked.
    """
    reference = payment.stripe_payment_intent_id or f"payment #{payment.pk}"
    allocations = {a.order_id: a for a in payment.allocations.all()}
    for order in orders:
        allocation = allocations[order.pk]
        if not allocation.active and not _reactivate(allocation):
            # An Auto Checkout charge we had let go of went through after all, and another
            # payment has the order meanwhile: give this one back.
            refund_request(
                payment=payment,
                amount=allocation.amount,
                kind=RefundKind.MANUAL,
                allocation=allocation,
                reason=f"order {order.pk} is paid by another payment",
                actor=actor,
            )
            continue
        if order.status == OrderStatus.CANCELLED:
            refund_request(
                payment=payment,
                amount=allocation.amount,
                kind=RefundKind.ORDER_CANCELLED,
                allocation=allocation,
                reason=f"order {order.pk} was cancelled while it was being paid",
                actor=actor,
            )
            continue
        if order.seller_paid_at is not None or order.status not in (OrderStatus.ON_HOLD, OrderStatus.AWAITING_CHECKOUT):
            refund_request(
                payment=payment,
                amount=allocation.amount,
                kind=RefundKind.MANUAL,
                allocation=allocation,
                reason=f"order {order.pk} was already paid ({order.seller_payment_reference or order.status})",
                actor=actor,
            )
            allocation.active = False
            allocation.save(update_fields=["active"])
            continue
        order_seller_paid_locked(
            order=order, reference=reference, note=f"payment #{payment.pk} {reference}", actor=actor
        )


def _reactivate(allocation: PaymentOrder) -> bool:
    try:
        with transaction.atomic():
            allocation.active = True
            allocation.save(update_fields=["active"])
    except IntegrityError:
        allocation.active = False
        return False
    return True


def _auto_checkout_after(payment: Payment, *, actor: Actor) -> None:
    if payment.trigger != PaymentTrigger.AUTO_CHECKOUT:
        return
    rows = AutoCheckout.objects.select_for_update(of=("self",)).filter(last_payment=payment, gave_up_at__isnull=True)
    for auto in rows.order_by("pk"):
        _auto_after_failure(auto, payment, actor=actor)


def auto_give_up(auto: AutoCheckout, *, code: str, message: str, actor: Actor) -> None:
    """Stop charging this order and tell the seller why. Precondition: ``auto`` is locked."""
    auto.next_attempt_at = None
    auto.gave_up_at = timezone.now()
    auto.failure_code = code[:64]
    auto.failure_message = message[:500]
    auto.save(update_fields=["next_attempt_at", "gave_up_at", "failure_code", "failure_message", "updated_at"])
    payment_event_record(
        seller=auto.seller_id, action="auto_checkout_gave_up", actor=actor, note=f"order {auto.order_id}: {code}"
    )
    order_id, reason = auto.order_id, message
    transaction.on_commit(lambda: notify_auto_checkout_failed(order_ids=[order_id], reason=reason), robust=True)


def _auto_after_failure(auto: AutoCheckout, payment: Payment, *, actor: Actor) -> None:
    """Schedule the next try on the backoff, or give up after the last one (or when the bank wants the seller)."""
    backoff = settings.AUTO_CHECKOUT_RETRY_BACKOFF
    if payment.status == PaymentStatus.REQUIRES_ACTION or auto.attempts > len(backoff):
        auto_give_up(auto, code=payment.failure_code, message=payment.failure_message, actor=actor)
        return
    auto.next_attempt_at = timezone.now() + backoff[auto.attempts - 1]
    auto.failure_code = payment.failure_code[:64]
    auto.failure_message = payment.failure_message[:500]
    auto.save(update_fields=["next_attempt_at", "failure_code", "failure_message", "updated_at"])


# --- settling and refreshing ---------------------------------------------------------------------


def payment_settle(*, payment_id: int, actor: Actor) -> Payment:
    """Find out what happened to a payment still ``processing`` (the worker died, or Stripe did not answer).

    With the PaymentIntent's id known it is read back. Without, the create is
    sent again with the same idempotency key: Stripe answers with the original
    result (or makes the charge for the first time if the first request never
    arrived), so this never charges twice.
    """
    with transaction.atomic():
        payment = lock_payment(payment_id)
        if payment.status != PaymentStatus.PROCESSING:
            return payment
        payment.reconcile_at = timezone.now() + settings.PAYMENT_STALE_AFTER
        payment.save(update_fields=["reconcile_at", "updated_at"])
    if payment.stripe_payment_intent_id:
        outcome = payment_intent_outcome(payment.stripe_payment_intent_id)
    else:
        outcome = send(payment)
    return payment_outcome_record(payment_id=payment.pk, outcome=outcome, actor=actor)


def payment_refresh(*, seller: Seller, payment_id: int, actor: Actor) -> Payment:
    """Read a payment's state back from Stripe, e.g. after Stripe.js finished the bank's confirmation."""
    payment = Payment.objects.filter(pk=payment_id, seller=seller).first()
    if payment is None:
        raise NotFound("No such payment.", code="payment_not_found")
    if (
        payment.status not in (PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_ACTION)
        or not payment.stripe_payment_intent_id
    ):
        return payment
    outcome = payment_intent_outcome(payment.stripe_payment_intent_id)
    if outcome.kind == "requires_action" and payment.status == PaymentStatus.REQUIRES_ACTION:
        return payment
    return payment_outcome_record(payment_id=payment.pk, outcome=outcome, actor=actor)


def payment_cancel_intent(*, payment_id: int) -> None:
    """Cancel at Stripe the PaymentIntent of an Auto Checkout payment that wanted the seller present.

    Best effort: nobody can confirm it without the client secret, which we never hand out for these.
    """
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != PaymentStatus.REQUIRES_ACTION or not payment.stripe_payment_intent_id:
        return
    try:
        stripe_client.payment_intent_cancel(
            payment.stripe_payment_intent_id, idempotency_key=f"{payment.idempotency_key}-cancel"
        )
    except (StripeDeclined, StripeUnavailable) as exc:
        logger.warning("payment %s: could not cancel %s: %s", payment.pk, payment.stripe_payment_intent_id, exc)
