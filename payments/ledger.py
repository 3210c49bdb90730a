"""The seller's ledger (reads): every payment to us and every refund back, by card or by bank transfer.

A charge is a ``Payment`` that took money (succeeded, even if refunded since),
dated when the money came in: the day the bank transfer arrived, or the day
the card charge succeeded. A refund is a ``Refund`` that went through, dated
the day the bank transfer was sent or Stripe confirmed it. Days are local
(``TIME_ZONE``). The statement (portal), the seller's page (admin) and their
CSV downloads all read these, so they always agree.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Prefetch
from django.utils import timezone

from accounts.models import Seller
from payments.models import MONEY_TAKEN, LedgerMethod, Payment, PaymentOrder, Refund, RefundStatus

CHARGE = "charge"
REFUND = "refund"
KIND_LABELS = {CHARGE: "Payment", REFUND: "Refund"}


@dataclass(frozen=True)
class LedgerEntry:
    day: datetime.date
    kind: str  # CHARGE or REFUND
    method: str  # LedgerMethod
    amount: int  # minor units, always positive; ``signed`` is negative for a refund
    reference: str
    orders: tuple[str, ...]
    description: str

    @property
    def signed(self) -> int:
        return self.amount if self.kind == CHARGE else -self.amount

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def method_label(self) -> str:
        return LedgerMethod(self.method).label


@dataclass
class StatementMonth:
    """One month of the seller's money: what they paid us, what went back, and the difference."""

    month: datetime.date  # the first day of the month
    charges: int = 0
    refunds: int = 0
    by_method: dict[str, int] = field(default_factory=dict)  # charges per LedgerMethod

    @property
    def net(self) -> int:
        return self.charges - self.refunds


def _local_day(moment: datetime.datetime | None) -> datetime.date | None:
    return timezone.localdate(moment) if moment is not None else None


def _payment_entry(payment: Payment) -> LedgerEntry:
    orders = tuple(a.order.external_id for a in payment.allocations.all())
    if payment.method == LedgerMethod.BANK_TRANSFER:
        day, reference, what = payment.received_on, payment.reference, "Bank transfer received"
    else:
        day = _local_day(payment.succeeded_at or payment.created_at)
        reference = payment.stripe_payment_intent_id or f"payment #{payment.pk}"
        what = payment.get_trigger_display()
    return LedgerEntry(day, CHARGE, payment.method, payment.amount, reference, orders, what)


def _refund_entry(refund: Refund) -> LedgerEntry:
    orders = (refund.allocation.order.external_id,) if refund.allocation_id else ()
    if refund.method == LedgerMethod.BANK_TRANSFER:
        day, reference = refund.sent_on, refund.reference
    else:
        day, reference = _local_day(refund.completed_at or refund.created_at), refund.stripe_refund_id
    return LedgerEntry(day, REFUND, refund.method, refund.amount, reference, orders, refund.get_kind_display())


def seller_ledger(
    *, seller: Seller, start: datetime.date | None = None, end: datetime.date | None = None
) -> list[LedgerEntry]:
    """The seller's payments and refunds from ``start`` to ``end`` (days, both included), oldest first."""
    payments = (
        Payment.objects.filter(seller=seller, status__in=MONEY_TAKEN)
        .prefetch_related(Prefetch("allocations", queryset=PaymentOrder.objects.select_related("order")))
        .order_by("pk")
    )
    refunds = (
        Refund.objects.filter(payment__seller=seller, status=RefundStatus.SUCCEEDED)
        .select_related("allocation__order")
        .order_by("pk")
    )
    entries = [_payment_entry(p) for p in payments] + [_refund_entry(r) for r in refunds]
    entries = [e for e in entries if (start is None or e.day >= start) and (end is None or e.day <= end)]
    return sorted(entries, key=lambda e: (e.day, e.kind != CHARGE, e.reference))


def seller_statement(*, seller: Seller, entries: list[LedgerEntry] | None = None) -> list[StatementMonth]:
    """Charges, refunds and net per month, the newest month first (months without money are left out)."""
    months: dict[datetime.date, StatementMonth] = {}
    for entry in seller_ledger(seller=seller) if entries is None else entries:
        first = entry.day.replace(day=1)
        month = months.setdefault(first, StatementMonth(month=first))
        if entry.kind == CHARGE:
            month.charges += entry.amount
            month.by_method[entry.method] = month.by_method.get(entry.method, 0) + entry.amount
        else:
            month.refunds += entry.amount
    return [months[key] for key in sorted(months, reverse=True)]


def statement_totals(months: list[StatementMonth]) -> StatementMonth:
    """The sum of ``months`` (e.g. a year), as one row."""
    total = StatementMonth(month=min((m.month for m in months), default=timezone.localdate().replace(day=1)))
    by_method: dict[str, int] = defaultdict(int)
    for month in months:
        total.charges += month.charges
        total.refunds += month.refunds
        for method, amount in month.by_method.items():
            by_method[method] += amount
    total.by_method = dict(by_method)
    return total
