"""Charging the seller's card for orders: manual checkout from the portal, and Auto Checkout.

Both start a payment and record Stripe's answer through ``payments.services.outcomes``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Seller
from core.actors import Actor
from core.errors import InvalidInput, NotFound
from core.tasks import enqueue_on_commit
from orders.models import Order, OrderStatus
from payments import stripe_client
from payments.declines import decline_message
from payments.hooks import orders_with_pending_cancellation
from payments.locks import lock_auto_checkout, lock_orders
from payments.models import AutoCheckout, Payment, PaymentOrder, PaymentStatus, PaymentTrigger
from payments.selectors import (
    PROBLEM_MESSAGES,
    WARNING_MESSAGES,
    active_allocations,
    order_costs,
    order_payment_problem,
    seller_customer,
    seller_default_card_ids,
)
from payments.services.common import payment_event_record, require_seller_access
from payments.services.outcomes import (
    Outcome,
    auto_give_up,
    create_processing_payment,
    in_progress,
    payment_intent_outcome,
    payment_outcome_record,
    send,
)
from payments.stripe_client import StripeDeclined, StripeUnavailable

logger = logging.getLogger(__name__)

# One charge covers at most this many orders (one Stripe PaymentIntent; a page of the portal's Unpaid tab).
MAX_ORDERS_PER_CHECKOUT = 500


# --- manual checkout ------------------------------------------------------------------------------


@dataclass
class OrderResult:
    """How paying went for one order, in words for the seller.

    ``outcome``: ``paid``, ``declined``, ``requires_action``, ``processing`` or
    ``skipped`` (the order was not charged; ``code`` says why).
    """

    order_id: int
    external_id: str
    outcome: str
    code: str = ""
    message: str = ""
    amount: int = 0


@dataclass
class CheckoutResult:
    payment: Payment | None
    orders: list[OrderResult] = field(default_factory=list)
    # Set while the seller's bank wants them to confirm: Stripe.js finishes it with this.
    client_secret: str = ""

    @property
    def total(self) -> int:
        return self.payment.amount if self.payment else 0

    @property
    def paid(self) -> list[OrderResult]:
        return [r for r in self.orders if r.outcome == "paid"]


def checkout_orders(
    *,
    seller: Seller,
    order_ids: list[int],
    actor: Actor,
    payment_method_id: str | None = None,
    pay_despite_cancellation: bool = False,
) -> CheckoutResult:
    """The seller pays for a selection of orders with one charge of a saved card (their default by default).

    Orders that cannot be paid (already paid, payment under way, an unknown
    SKU, buyer not paid, not the seller's) are skipped and say why; the others
    are charged together and all get the same outcome. An order whose buyer
    asked to cancel (R5) is skipped too, unless the seller confirmed paying it
    anyway (``pay_despite_cancellation``). A decline comes back in plain words.
    Precondition: not inside a transaction (it commits before calling Stripe).
    """
    require_seller_access(seller, actor)
    try:
        order_ids = list(dict.fromkeys(int(pk) for pk in order_ids))
    except (TypeError, ValueError):
        raise InvalidInput("Order ids are whole numbers.", code="invalid_order_id") from None
    if not order_ids:
        raise InvalidInput("Select at least one order to pay.", code="no_orders")
    if len(order_ids) > MAX_ORDERS_PER_CHECKOUT:
        raise InvalidInput(f"Pay at most {MAX_ORDERS_PER_CHECKOUT} orders at once.", code="too_many_orders")
    customer = seller_customer(seller=seller)
    method_id = payment_method_id or (customer.default_payment_method_id if customer else None)
    if customer is None or not method_id:
        raise InvalidInput("Add a card first.", code="no_card")
    if not customer.payment_methods.filter(id=method_id).exists():
        raise NotFound("No such card on file.", code="card_not_found")

    _abandon_waiting_confirmations(seller=seller, order_ids=order_ids, actor=actor)

    results: dict[int, OrderResult] = {}
    try:
        payment, payable, costs = _checkout_claim(
            seller=seller,
            order_ids=order_ids,
            customer_id=customer.id,
            method_id=method_id,
            results=results,
            actor=actor,
            pay_despite_cancellation=pay_despite_cancellation,
        )
    except IntegrityError as exc:
        raise in_progress(exc) from exc
    if payment is None:
        return CheckoutResult(payment=None, orders=[results[pk] for pk in order_ids])

    outcome = send(payment)
    payment = payment_outcome_record(
        payment_id=payment.pk, outcome=outcome, actor=actor, order_ids=[o.pk for o in payable]
    )
    for order in payable:
        results[order.pk] = _order_result(order, payment, costs[order.pk].amount, outcome)
    return CheckoutResult(
        payment=payment,
        orders=[results[pk] for pk in order_ids],
        client_secret=payment.client_secret if payment.status == PaymentStatus.REQUIRES_ACTION else "",
    )


def _checkout_claim(*, seller, order_ids, customer_id, method_id, results, actor, pay_despite_cancellation):
    """Lock and check the selected orders; write the payment for the payable ones (committed on return).

    Pending cancellation requests are read with the orders locked: a request
    is only created under its order's lock, so none can appear before the
    payment row commits.
    """
    with transaction.atomic():
        orders = lock_orders(order_ids, seller=seller)
        found = {o.pk: o for o in orders}
        costs = order_costs(orders)
        allocations = active_allocations(found)
        pending = orders_with_pending_cancellation(found)
        payable = []
        for order_id in order_ids:
            order = found.get(order_id)
            if order is None:
                results[order_id] = OrderResult(order_id, "", "skipped", "not_found", PROBLEM_MESSAGES["not_found"])
                continue
            problem = (
                order_payment_problem(
                    order,
                    seller=seller,
                    allocation=allocations.get(order_id),
                    cancellation_pending=order_id in pending,
                    pay_despite_cancellation=pay_despite_cancellation,
                )
                or costs[order_id].problem
            )
            if problem:
                results[order_id] = OrderResult(
                    order_id, order.external_id, "skipped", problem, PROBLEM_MESSAGES[problem]
                )
            else:
                payable.append(order)
        if not payable:
            return None, [], costs
        payment = create_processing_payment(
            seller=seller,
            orders=payable,
            amounts={o.pk: costs[o.pk].amount for o in payable},
            trigger=PaymentTrigger.MANUAL,
            customer_id=customer_id,
            payment_method_id=method_id,
            actor=actor,
        )
    return payment, payable, costs


def _order_result(order: Order, payment: Payment, amount: int, outcome: Outcome) -> OrderResult:
    if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED):
        return OrderResult(order.pk, order.external_id, "paid", "paid", "Paid.", amount)
    if payment.status == PaymentStatus.FAILED:
        return OrderResult(
            order.pk, order.external_id, "declined", payment.failure_code, payment.failure_message, amount
        )
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        return OrderResult(
            order.pk, order.external_id, "requires_action", "requires_action", payment.failure_message, amount
        )
    message = (
        "The card processor did not answer yet; the payment will be confirmed shortly."
        if outcome.kind == "unknown"
        else "The payment is being processed."
    )
    return OrderResult(order.pk, order.external_id, "processing", "processing", message, amount)


def _abandon_waiting_confirmations(*, seller: Seller, order_ids: list[int], actor: Actor) -> None:
    """Cancel earlier payments of these orders that still wait for the seller's bank, before charging anew.

    The seller is paying again, so the confirmation they left unfinished must
    never go through as well: the PaymentIntent is cancelled at Stripe first
    (no locks held), then the payment is recorded as failed. If Stripe says it
    went through after all, it is recorded as paid instead.
    """
    waiting = Payment.objects.filter(
        seller=seller,
        status=PaymentStatus.REQUIRES_ACTION,
        allocations__active=True,
        allocations__order_id__in=order_ids,
    ).distinct()
    for payment in waiting:
        payment_abandon(payment_id=payment.pk, actor=actor)


def payment_abandon(*, payment_id: int, actor: Actor) -> Payment:
    """Give up on a payment that waits for the seller's bank: cancel its PaymentIntent and record the result."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != PaymentStatus.REQUIRES_ACTION:
        return payment
    if not payment.stripe_payment_intent_id:
        outcome = Outcome("failed", code="abandoned", message=decline_message(code="abandoned"))
    else:
        try:
            intent = stripe_client.payment_intent_cancel(
                payment.stripe_payment_intent_id, idempotency_key=f"{payment.idempotency_key}-cancel"
            )
            outcome = Outcome.from_intent(intent)
        except StripeDeclined:
            # Cannot be cancelled: it went through (or failed) meanwhile. Ask what it is.
            outcome = payment_intent_outcome(payment.stripe_payment_intent_id)
        except StripeUnavailable:
            return payment
        if outcome.kind == "failed" and outcome.code in ("canceled", "requires_payment_method"):
            outcome = Outcome(
                "failed", intent_id=outcome.intent_id, code="abandoned", message=decline_message(code="abandoned")
            )
    return payment_outcome_record(payment_id=payment.pk, outcome=outcome, actor=actor)


# --- Auto Checkout ---------------------------------------------------------------------------------

AUTO_CHECKOUT_NOT_DUE = "not_due"
CANCELLATION_PENDING = "cancellation_pending"


def auto_checkout_charge(*, order_id: int, actor: Actor) -> str:
    """Charge one order Auto Checkout holds, with the seller's default card, if it still needs it.

    Safe to call any number of times, from tasks and timer passes at once: it
    re-checks everything under the order's lock, and an order with a payment
    under way or done is left alone. An order whose buyer asked to cancel is
    not charged: its schedule waits until the request is rejected or withdrawn
    (``auto_checkout_resume_locked``), and an approved request cancels it.
    Returns what happened (for the task log).
    """
    try:
        claimed = _auto_checkout_claim(order_id=order_id, actor=actor)
    except IntegrityError:
        return "in_progress"  # another charge won the order between our check and our insert
    if isinstance(claimed, str):
        return claimed
    outcome = send(claimed)
    return payment_outcome_record(payment_id=claimed.pk, outcome=outcome, actor=actor, order_ids=[order_id]).status


def _auto_checkout_claim(*, order_id: int, actor: Actor) -> Payment | str:
    now = timezone.now()
    with transaction.atomic():
        orders = lock_orders([order_id])
        auto = lock_auto_checkout(order_id)
        if not orders or auto is None:
            return AUTO_CHECKOUT_NOT_DUE
        order = orders[0]
        seller = order.seller
        if (
            order.status != OrderStatus.AWAITING_CHECKOUT
            or order.seller_paid_at is not None
            or not seller.auto_checkout
            or auto.gave_up_at is not None
        ):
            _auto_clear(auto)
            return AUTO_CHECKOUT_NOT_DUE
        if PaymentOrder.objects.filter(order_id=order.pk, active=True).exists():
            # Paid or being paid; the payment's outcome reschedules if it fails.
            _auto_clear(auto)
            return "in_progress"
        if orders_with_pending_cancellation([order.pk]):
            _auto_wait_for_answer(auto, actor=actor)
            return CANCELLATION_PENDING
        card = seller_default_card_ids(seller=seller)
        if card is None:
            auto_give_up(auto, code="no_default_card", message=decline_message(code="no_default_card"), actor=actor)
            return "no_default_card"
        cost = order_costs([order])[order.pk]
        if cost.problem:
            auto_give_up(auto, code=cost.problem, message=PROBLEM_MESSAGES[cost.problem], actor=actor)
            return cost.problem
        if cost.short:
            # Nobody is there to read the warning a seller paying by hand gets: leave it to the seller.
            auto_give_up(auto, code="stock_exception", message=WARNING_MESSAGES["short_stock"], actor=actor)
            return "stock_exception"
        payment = create_processing_payment(
            seller=seller,
            orders=[order],
            amounts={order.pk: cost.amount},
            trigger=PaymentTrigger.AUTO_CHECKOUT,
            customer_id=card[0],
            payment_method_id=card[1],
            actor=actor,
        )
        auto.attempts += 1
        auto.last_payment = payment
        # If this worker dies before the outcome is recorded, the timer looks again after this.
        auto.next_attempt_at = now + settings.PAYMENT_STALE_AFTER
        auto.save(update_fields=["attempts", "last_payment", "next_attempt_at", "updated_at"])
    return payment


def _auto_clear(auto: AutoCheckout) -> None:
    if auto.next_attempt_at is not None:
        auto.next_attempt_at = None
        auto.save(update_fields=["next_attempt_at", "updated_at"])


def _auto_wait_for_answer(auto: AutoCheckout, *, actor: Actor) -> None:
    """Unschedule the charge while the buyer's cancellation request waits; say why. Precondition: ``auto`` locked."""
    if auto.failure_code == CANCELLATION_PENDING and auto.next_attempt_at is None:
        return
    auto.next_attempt_at = None
    auto.failure_code = CANCELLATION_PENDING
    auto.failure_message = "Waiting for your answer to the buyer's cancellation request."
    auto.save(update_fields=["next_attempt_at", "failure_code", "failure_message", "updated_at"])
    payment_event_record(
        seller=auto.seller_id,
        action="auto_checkout_waits",
        actor=actor,
        note=f"order {auto.order_id}: the buyer asked to cancel",
    )


def auto_checkout_resume_locked(*, order: Order, actor: Actor) -> bool:
    """The buyer's cancellation request was rejected or withdrawn: Auto Checkout charges the order again,
    right after commit. Returns True when a charge was scheduled.

    Does nothing when the seller pays by hand, the order is no longer waiting
    for the seller's payment, or Auto Checkout gave up on it. Precondition:
    inside ``transaction.atomic()`` with ``order`` locked (``returns`` calls it
    from the transaction that answered the request).
    """
    if (
        not order.seller.auto_checkout
        or order.status != OrderStatus.AWAITING_CHECKOUT
        or order.seller_paid_at is not None
    ):
        return False
    auto = lock_auto_checkout(order.pk)
    now = timezone.now()
    if auto is None:
        auto = AutoCheckout.objects.create(order=order, seller_id=order.seller_id, next_attempt_at=now)
    elif auto.gave_up_at is not None:
        return False
    else:
        auto.next_attempt_at = now
        auto.failure_code = auto.failure_message = ""
        auto.save(update_fields=["next_attempt_at", "failure_code", "failure_message", "updated_at"])
    payment_event_record(seller=order.seller_id, action="auto_checkout_resumed", actor=actor, note=f"order {order.pk}")
    enqueue_on_commit("payments.tasks.auto_checkout_charge", order.pk)
    return True
