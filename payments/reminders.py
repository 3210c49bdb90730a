"""Emails to sellers who pay by hand: a reminder when orders start waiting, and a daily digest (R4, R13).

Timers are data, not jobs:

* When a hold ends unpaid for a seller without Auto Checkout,
  ``checkout_reminder_schedule`` (called from ``payments.reactions``, in the
  transaction that moved the order) writes a ``CheckoutReminder`` row due
  ``CHECKOUT_REMINDER_DELAY`` later.
* ``process_due_checkout_reminders`` (every timer pass) takes each seller with
  a due row, and puts all of that seller's pending rows into one
  ``SellerEmail``, in one transaction: the rows are locked with SKIP LOCKED and
  their ``due_at`` cleared, so no order is ever in two reminders, however many
  passes run at once. Orders paid or cancelled by then are dropped.
* ``checkout_digests_create`` (a daily schedule, or ``manage.py
  send_checkout_digests``) writes one digest per seller with waiting orders;
  a unique constraint on (seller, day) makes a second run that day a no-op.
* ``seller_email_send`` sends one email, after commit, with no lock held. A
  failure is retried on a backoff by the same timer pass, then recorded as
  ``failed`` for staff to see in the admin.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_fsm import can_proceed

from accounts.emails import SellerMessage
from accounts.models import Seller
from core.tasks import enqueue_on_commit
from core.timers import process_due
from orders.models import Order, OrderStatus
from payments.models import CheckoutReminder, SellerEmail, SellerEmailKind, SellerEmailStatus
from payments.notify.checkout import digest_message, reminder_message

logger = logging.getLogger(__name__)

# A worker sending an email holds it this long; if it dies, the timer sends the email again after that.
SEND_LEASE = timedelta(minutes=10)
# After a refused send, try again after these delays; when they run out the email is marked failed.
SEND_RETRY_BACKOFF = [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2)]
SEND_TASK = "payments.tasks.seller_email_send"


def orders_waiting_for_seller() -> QuerySet[Order]:
    """Orders awaiting checkout that the seller has to pay by hand.

    Orders Auto Checkout still has scheduled are left out: they are not the
    seller's to pay (yet). Orders it gave up on are in.
    """
    return Order.objects.filter(status=OrderStatus.AWAITING_CHECKOUT, seller_paid_at__isnull=True).filter(
        Q(seller__auto_checkout=False) | Q(auto_checkout__isnull=True) | Q(auto_checkout__next_attempt_at__isnull=True)
    )


# --- reminders of newly waiting orders -----------------------------------------------------------


def checkout_reminder_schedule(*, order: Order) -> None:
    """The hold of ``order`` ended unpaid: remind its seller, unless Auto Checkout pays it.

    Precondition: inside the transaction that moved the order, order locked.
    Seeing the same order again changes nothing (one row per order).
    """
    if order.status != OrderStatus.AWAITING_CHECKOUT or order.seller_paid_at is not None or order.seller.auto_checkout:
        return
    # One INSERT ... ON CONFLICT DO NOTHING: cheap inside the hold-ending transaction.
    CheckoutReminder.objects.bulk_create(
        [
            CheckoutReminder(
                order=order, seller_id=order.seller_id, due_at=timezone.now() + settings.CHECKOUT_REMINDER_DELAY
            )
        ],
        ignore_conflicts=True,
    )


def process_due_checkout_reminders(*, now: datetime) -> dict[str, int]:
    """One timer pass: a reminder email for each seller with due reminders, and the retries of unsent emails."""
    seller_ids = list(
        CheckoutReminder.objects.filter(due_at__lte=now).order_by().values_list("seller_id", flat=True).distinct()
    )
    reminded = 0
    for seller_id in sorted(seller_ids):
        try:
            reminded += _remind_seller(seller_id, now=now)
        except Exception:  # one seller must not stop the others; the rows stay due
            logger.exception("checkout reminder for seller %s failed", seller_id)

    def resend(email: SellerEmail) -> None:
        email.next_attempt_at = now + SEND_LEASE
        email.save(update_fields=["next_attempt_at"])
        enqueue_on_commit(SEND_TASK, email.pk)

    resent = process_due(
        model=SellerEmail, deadline="next_attempt_at", now=now, handle=resend, status=SellerEmailStatus.PENDING
    )
    return {"checkout_reminder_emails": reminded, "seller_emails_resent": resent}


def _remind_seller(seller_id: int, *, now: datetime) -> int:
    """Put every pending reminder of the seller into one email; return 1 if an email was written.

    The seller's pending rows are taken together, also those not yet due,
    so orders that started waiting a little later join the same email.
    """
    with transaction.atomic():
        rows = list(
            CheckoutReminder.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(seller_id=seller_id, due_at__isnull=False)
            .order_by("pk")
        )
        if not any(row.due_at <= now for row in rows):
            return 0  # another pass holds them, or has just sent them
        auto_checkout = Seller.objects.filter(pk=seller_id).values_list("auto_checkout", flat=True).get()
        waiting: set[int] = set()
        if not auto_checkout:
            waiting = set(
                Order.objects.filter(
                    pk__in=[row.order_id for row in rows],
                    status=OrderStatus.AWAITING_CHECKOUT,
                    seller_paid_at__isnull=True,
                ).values_list("pk", flat=True)
            )
        email = None
        if waiting:
            email = SellerEmail.objects.create(
                seller_id=seller_id, kind=SellerEmailKind.CHECKOUT_REMINDER, next_attempt_at=now + SEND_LEASE
            )
            CheckoutReminder.objects.filter(pk__in=[r.pk for r in rows if r.order_id in waiting]).update(
                due_at=None, email=email
            )
            enqueue_on_commit(SEND_TASK, email.pk)
        # Paid, cancelled, or Auto Checkout took over: nothing to remind.
        CheckoutReminder.objects.filter(pk__in=[r.pk for r in rows if r.order_id not in waiting]).update(due_at=None)
    return 1 if email is not None else 0


# --- the daily digest ------------------------------------------------------------------------------


def checkout_digests_create(*, now: datetime) -> list[int]:
    """Write today's digest for every seller with orders waiting for their payment; return the new emails' ids.

    Sellers who already have today's digest are skipped (the unique constraint
    decides, so two runs at once write one digest each). "Today" is the local
    date in ``TIME_ZONE``.
    """
    day = timezone.localdate(now)
    seller_ids = sorted(set(orders_waiting_for_seller().order_by().values_list("seller_id", flat=True).distinct()))
    created = []
    for seller_id in seller_ids:
        try:
            with transaction.atomic():
                email = SellerEmail.objects.create(
                    seller_id=seller_id,
                    kind=SellerEmailKind.CHECKOUT_DIGEST,
                    digest_date=day,
                    next_attempt_at=now + SEND_LEASE,
                )
        except IntegrityError:
            continue  # already written today
        created.append(email.pk)
    return created


def checkout_digests_queue(*, now: datetime) -> int:
    """The daily schedule's work: write today's digests and queue a send task for each. Returns how many."""
    created = checkout_digests_create(now=now)
    for email_id in created:
        enqueue_on_commit(SEND_TASK, email_id)
    if created:
        logger.info("checkout digests: %d queued", len(created))
    return len(created)


# --- sending ---------------------------------------------------------------------------------------


def compose(email: SellerEmail) -> SellerMessage | None:
    """What ``email`` says now, or None when nothing is left to say."""
    seller = email.seller
    if email.kind == SellerEmailKind.CHECKOUT_REMINDER:
        if seller.auto_checkout:
            return None  # turned on meanwhile: Auto Checkout charges these orders
        order_ids = list(email.reminders.values_list("order_id", flat=True))
        return reminder_message(seller=seller, order_ids=order_ids)
    if email.kind == SellerEmailKind.CHECKOUT_DIGEST:
        order_ids = list(orders_waiting_for_seller().filter(seller=seller).values_list("pk", flat=True))
        return digest_message(seller=seller, order_ids=order_ids, day=email.digest_date)
    raise ValueError(f"unknown seller email kind {email.kind!r}")


def seller_email_send(*, email_id: int) -> str:
    """Send one pending email, unless another worker is sending it; returns what happened (for the task log).

    The email is claimed in a short transaction, rendered and handed to the
    mail server with no lock held, and the result recorded in a new one.
    Precondition: not inside a transaction.
    """
    now = timezone.now()
    with transaction.atomic():
        email = SellerEmail.objects.select_for_update(of=("self",)).select_related("seller").filter(pk=email_id).first()
        if email is None or email.status != SellerEmailStatus.PENDING:
            return "done"
        if email.claimed_at is not None and email.claimed_at > now - SEND_LEASE:
            return "in_progress"
        email.claimed_at = now
        email.attempts += 1
        email.next_attempt_at = now + SEND_LEASE
        email.save(update_fields=["claimed_at", "attempts", "next_attempt_at"])
    try:
        message = compose(email)
        if message is None:
            return _record(email_id, "skip", why="nothing to tell any more: the orders were paid or cancelled")
        message.send()
    except Exception as exc:  # noqa: BLE001 - any backend error (SMTP, DNS, TLS, timeout) is retried
        logger.warning("seller email %s (%s) not sent: %r", email_id, email.kind, exc)
        return _record_failure(email_id, error=f"{type(exc).__name__}: {exc}")
    logger.info("seller email %s (%s) sent to %s", email_id, email.kind, message.to)
    return _record(email_id, "mark_sent", at=timezone.now(), recipient=message.to, subject=message.subject)


def _record(email_id: int, name: str, **args) -> str:
    with transaction.atomic():
        email = SellerEmail.objects.select_for_update(of=("self",)).get(pk=email_id)
        method = getattr(email, name)
        if not can_proceed(method):
            return email.status
        method(**args)
        email.save(
            update_fields=["status", "sent_at", "recipient", "subject", "next_attempt_at", "claimed_at", "last_error"]
        )
    return email.status


def _record_failure(email_id: int, *, error: str) -> str:
    """Schedule the next attempt, or give up once the backoff is used up."""
    with transaction.atomic():
        email = SellerEmail.objects.select_for_update(of=("self",)).get(pk=email_id)
        if email.status != SellerEmailStatus.PENDING:
            return email.status
        if email.attempts > len(SEND_RETRY_BACKOFF):
            email.fail(error=error)
            email.save(update_fields=["status", "next_attempt_at", "claimed_at", "last_error"])
            logger.error("seller email %s given up after %d attempts: %s", email.pk, email.attempts, error)
            return email.status
        email.next_attempt_at = timezone.now() + SEND_RETRY_BACKOFF[email.attempts - 1]
        email.claimed_at = None
        email.last_error = error[:500]
        email.save(update_fields=["next_attempt_at", "claimed_at", "last_error"])
    return "retry"
