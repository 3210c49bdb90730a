"""The payments deadlines, run by ``process_due_timers()`` every minute.

* ``AutoCheckout.next_attempt_at``: an Auto Checkout charge is due (a retry on
  the backoff, or a first charge whose task was lost).
* ``Payment.reconcile_at``: a payment still ``processing`` that nobody settled
  (the worker died mid-call, or Stripe did not answer).
* ``Refund.next_attempt_at``: a refund to (re)send to Stripe.
* ``CheckoutReminder.due_at`` and ``SellerEmail.next_attempt_at``: checkout emails to sellers
  (``payments.reminders``).

Each pass locks the due row, re-checks it, pushes its deadline forward by
``PAYMENT_STALE_AFTER`` (a lease: if the work is lost, the row is due again
then) and enqueues the work as a task on commit (due charges in tasks of
``CHARGES_PER_TASK`` orders). The Stripe call happens in
the task, never inside the pass's locked transaction. Safe to run on many
workers at once: rows are taken with SKIP LOCKED, and the work itself
re-checks under its own locks.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from core.tasks import enqueue_on_commit
from core.timers import process_due
from orders.models import Order, OrderStatus
from payments.models import AutoCheckout, Payment, PaymentStatus, Refund, RefundStatus
from payments.reminders import process_due_checkout_reminders

# Due Auto Checkout orders are charged in tasks of this many: one task per order would cost more
# in task overhead than the charge; one task for all would keep the other workers idle.
CHARGES_PER_TASK = 10


def _lease(row, field: str, now: datetime) -> None:
    setattr(row, field, now + settings.PAYMENT_STALE_AFTER)
    update = [field, "updated_at"] if any(f.name == "updated_at" for f in row._meta.fields) else [field]
    row.save(update_fields=update)


def process_due_payments(*, now: datetime) -> dict[str, int]:
    due_orders: list[int] = []

    def charge(auto: AutoCheckout) -> None:
        status, paid_at, enabled = Order.objects.values_list("status", "seller_paid_at", "seller__auto_checkout").get(
            pk=auto.order_id
        )
        if status != OrderStatus.AWAITING_CHECKOUT or paid_at is not None or not enabled:
            auto.next_attempt_at = None
            auto.save(update_fields=["next_attempt_at", "updated_at"])
            return
        _lease(auto, "next_attempt_at", now)
        due_orders.append(auto.order_id)
        if len(due_orders) == CHARGES_PER_TASK:
            # Enqueued when this row's lease commits, so workers start while the pass goes on.
            enqueue_on_commit("payments.tasks.auto_checkout_charge_many", due_orders[:])
            due_orders.clear()

    def settle(payment: Payment) -> None:
        _lease(payment, "reconcile_at", now)
        enqueue_on_commit("payments.tasks.payment_settle", payment.pk)

    def send_refund(refund: Refund) -> None:
        _lease(refund, "next_attempt_at", now)
        enqueue_on_commit("payments.tasks.refund_send", refund.pk)

    counts = {
        "auto_checkout_charges": process_due(
            model=AutoCheckout, deadline="next_attempt_at", now=now, handle=charge, next_attempt_at__isnull=False
        ),
        "payments_settled": process_due(
            model=Payment, deadline="reconcile_at", now=now, handle=settle, status=PaymentStatus.PROCESSING
        ),
        "refunds_sent": process_due(
            model=Refund,
            deadline="next_attempt_at",
            now=now,
            handle=send_refund,
            status__in=[RefundStatus.PENDING, RefundStatus.PROCESSING],
        ),
    }
    if due_orders:
        enqueue_on_commit("payments.tasks.auto_checkout_charge_many", due_orders)
    # Reminds sellers of orders whose hold ended unpaid (batched per seller), and resends unsent emails.
    counts.update(process_due_checkout_reminders(now=now))
    return counts
