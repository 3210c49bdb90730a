"""The seller's statement: what they paid us and what went back, per month, by card or by bank transfer.

Reads ``payments.ledger``, the same ledger Finance sees on the seller's admin
page. Both downloads are CSV with formula-safe cells: the months, or every entry.
"""

from __future__ import annotations

from decimal import Decimal

from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.exports import download_response, safe_dataset
from payments.ledger import seller_ledger, seller_statement, statement_totals
from payments.models import LedgerMethod
from portal.auth import seller_required


def _amount(minor_units: int) -> Decimal:
    """Minor units as a number a spreadsheet adds up: 1250 → 12.50."""
    return Decimal(minor_units).scaleb(-2)


@require_GET
@seller_required
def statement(request, seller):
    entries = seller_ledger(seller=seller)
    months = seller_statement(seller=seller, entries=entries)
    context = {
        "seller": seller,
        "months": months,
        "total": statement_totals(months),
        "entries": list(reversed(entries)),
        "methods": LedgerMethod.choices,
    }
    return render(request, "portal/statement.html", context)


@require_GET
@seller_required
def statement_download(request, seller):
    """``?what=entries`` for every payment and refund; otherwise the month-by-month statement."""
    entries = seller_ledger(seller=seller)
    if request.GET.get("what") == "entries":
        rows = [
            (
                entry.day.isoformat(),
                entry.kind_label,
                entry.method_label,
                _amount(entry.signed),
                entry.reference,
                " ".join(entry.orders),
                entry.description,
            )
            for entry in entries
        ]
        headers = ["date", "type", "method", "amount", "reference", "orders", "description"]
        return download_response(safe_dataset(headers, rows), name=f"payments-{seller.code}")
    months = seller_statement(seller=seller, entries=entries)
    rows = [
        (
            month.month.strftime("%Y-%m"),
            _amount(month.by_method.get(LedgerMethod.CARD, 0)),
            _amount(month.by_method.get(LedgerMethod.BANK_TRANSFER, 0)),
            _amount(month.charges),
            _amount(month.refunds),
            _amount(month.net),
        )
        for month in months
    ]
    headers = ["month", "paid by card", "paid by bank transfer", "paid in total", "refunded", "net"]
    return download_response(safe_dataset(headers, rows), name=f"statement-{seller.code}")
