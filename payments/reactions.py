"""What payments do when an order changes status: a reaction plugged into ``orders.hooks`` at start-up.

Runs inside the transaction that moved the order, with the order locked. It
only writes rows (an Auto Checkout schedule, a refund intent) and enqueues
tasks on commit; Stripe is called by those tasks, never from here.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from core.actors import Actor
from core.tasks import enqueue_on_commit
from orders.models import Order, OrderStatus
from payments.locks import lock_payment
from payments.models import AutoCheckout, PaymentOrder, PaymentStatus, RefundKind
from payments.reminders import checkout_reminder_schedule
from payments.services.refunds import refund_request


def on_order_status_changed(*, order: Order, from_status: str, action: str, actor: Actor) -> None:
    if order.status == OrderStatus.AWAITING_CHECKOUT:
        _auto_checkout_take(order)
        # A seller paying by hand gets a (batched) reminder email: a row for the reminders timer.
        checkout_reminder_schedule(order=order)
        return
    if from_status == OrderStatus.AWAITING_CHECKOUT:
        _stop_auto_checkout(order)  # paid (ready to fulfil) or cancelled: nothing left to charge
    if order.status == OrderStatus.CANCELLED:
        _refund_cancelled(order, actor=actor)


def _auto_checkout_take(order: Order) -> None:
    """The hold ended unpaid (R4): with Auto Checkout on, charge the order right after commit.

    The row's ``next_attempt_at`` is a lease: if the task is lost, the timer
    charges the order when it runs out.
    """
    if not order.seller.auto_checkout or order.seller_paid_at is not None:
        return
    now = timezone.now()
    AutoCheckout.objects.update_or_create(
        order=order,
        defaults={
            "seller_id": order.seller_id,
            "next_attempt_at": now + settings.PAYMENT_STALE_AFTER,
            "gave_up_at": None,
        },
        create_defaults={"seller_id": order.seller_id, "next_attempt_at": now + settings.PAYMENT_STALE_AFTER},
    )
    enqueue_on_commit("payments.tasks.auto_checkout_charge", order.pk)


def _stop_auto_checkout(order: Order) -> None:
    AutoCheckout.objects.filter(order=order, next_attempt_at__isnull=False).update(
        next_attempt_at=None, updated_at=timezone.now()
    )


def _refund_cancelled(order: Order, *, actor: Actor) -> None:
    """A cancelled order's wholesale payment goes back to the seller (R7).

    A payment still under way is handled when its outcome is recorded: a
    success for an order cancelled meanwhile refunds that order's share.
    """
    allocation = (
        PaymentOrder.objects.filter(
            order=order, active=True, payment__status__in=(PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED)
        )
        .select_related("payment")
        .first()
    )
    if allocation is None:
        return
    payment = lock_payment(allocation.payment_id)
    refund_request(
        payment=payment,
        amount=allocation.amount,
        kind=RefundKind.ORDER_CANCELLED,
        allocation=allocation,
        reason=f"order {order.pk} cancelled: {order.cancel_reason or order.cancelled_by}",
        actor=actor,
    )
