"""Bits shared by the payments admin pages: money, status badges, the confirmation page.

Read-only inlines and admins, and the page helpers, are the console's: ``core.admin_tools``.
"""

from __future__ import annotations

from django.db.models import Sum
from django.utils.html import format_html

from core.admin_tools import admin_page
from core.money import money
from payments.models import Payment, PaymentStatus, RefundStatus

# Payment statuses; refunds share the names (pending, processing, succeeded, failed).
STATUS_COLOURS = {
    PaymentStatus.PENDING: "#8a6d00",
    PaymentStatus.PROCESSING: "#8a6d00",
    PaymentStatus.REQUIRES_ACTION: "#a15c00",
    PaymentStatus.SUCCEEDED: "#1e7b34",
    PaymentStatus.FAILED: "#b3261e",
    PaymentStatus.PARTIALLY_REFUNDED: "#1f5fa8",
    PaymentStatus.REFUNDED: "#777",
}
REFUND_PERMISSION = "payments.refund_payment"
# A refund can be asked for on these; the service checks again under the payment's lock.
REFUNDABLE = (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED)


def badge(status: str, label: str):
    return format_html(
        '<strong style="color:{};white-space:nowrap">{}</strong>', STATUS_COLOURS.get(status, "inherit"), label
    )


def amount(value: int, currency: str):
    return format_html('<span style="white-space:nowrap">{}</span>', money(value, currency))


def refund_committed(payment: Payment) -> int:
    """What is refunded or on its way back (every refund but the failed ones), as ``refund_request`` counts it."""
    return payment.refunds.exclude(status=RefundStatus.FAILED).aggregate(total=Sum("amount"))["total"] or 0


def action_page(
    model_admin,
    request,
    *,
    original,
    title: str,
    intro: list[str],
    form,
    submit_label: str,
    back_url: str,
    template: str = "admin/payments/action_form.html",
    **extra,
):
    """The confirmation page of an action on ``original`` (a payment, a seller)."""
    return admin_page(
        model_admin,
        request,
        template,
        title=title,
        original=original,
        intro=intro,
        form=form,
        submit_label=submit_label,
        back_url=back_url,
        **extra,
    )
