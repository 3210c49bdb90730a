"""Payments and refunds in the console: read-only lists and pages, and Finance's refund form.

A refund is asked for on the payment's page ("Refund…", shown to users with
``payments.refund_payment``) and made by ``payments.services.payment_refund``,
which writes the intent and sends it to Stripe after commit.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from import_export.admin import ExportMixin

from core.actors import Actor, actor_label
from core.admin_tools import (
    AuditInline,
    IdSearchMixin,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    action_object,
    object_action_urls,
)
from core.errors import DomainError
from core.exports import EXPORT_FORMATS
from core.money import ZERO_DECIMAL_CURRENCIES, money
from payments.admin.common import REFUND_PERMISSION, REFUNDABLE, action_page, amount, badge, refund_committed
from payments.models import (
    PAYMENT_ACTION_LABELS,
    LedgerMethod,
    Payment,
    PaymentEvent,
    PaymentOrder,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from payments.resources import PaymentResource, RefundResource
from payments.services import payment_refund, refund_bank_transfer_record


def stripe_dashboard_url(intent_id: str) -> str | None:
    """Where Stripe's dashboard shows a PaymentIntent; None against the local emulator, which has no dashboard."""
    if not intent_id or getattr(settings, "STRIPE_API_HOST", ""):
        return None
    mode = "" if settings.STRIPE_LIVE_MODE else "test/"
    return f"https://dashboard.stripe.com/{mode}payments/{intent_id}"


def _minor_unit_places(currency: str) -> int:
    return 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2


# --- the refund form ---------------------------------------------------------------------------


class RefundForm(forms.Form):
    amount = forms.DecimalField(min_value=Decimal("0.01"), max_digits=12)
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept with the refund and in the payment's history.",
    )
    order = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        help_text=(
            "Tie the refund to one order's share, e.g. for a return. Leave empty to refund the payment as a whole."
        ),
    )

    def __init__(self, *args, payment: Payment, allocations: list[PaymentOrder], left: int, **kwargs):
        self.payment, self.left = payment, left
        self.places = _minor_unit_places(payment.currency)
        kwargs.setdefault("initial", {"amount": Decimal(left).scaleb(-self.places)})
        super().__init__(*args, **kwargs)
        currency = payment.currency.upper()
        self.fields["amount"].label = f"Amount ({currency})"
        self.fields["amount"].widget.attrs["step"] = str(Decimal(1).scaleb(-self.places))
        self.fields["amount"].help_text = f"At most {money(left, currency)} can still be refunded."
        self.fields["order"].choices = [("", "The whole payment")] + [
            (
                a.order_id,
                f"{a.order.external_id} (#{a.order_id}): share {money(a.amount, currency)}, "
                f"refunded {money(a.amount_refunded, currency)}",
            )
            for a in allocations
        ]

    def clean_amount(self) -> int:
        """The amount in minor units, as the service takes it."""
        scaled = self.cleaned_data["amount"].scaleb(self.places)
        if scaled != scaled.to_integral_value():
            raise forms.ValidationError(
                f"Enter an amount with at most {self.places} decimals." if self.places else "Enter a whole amount."
            )
        minor = int(scaled)
        if minor > self.left:
            raise forms.ValidationError(f"At most {money(self.left, self.payment.currency)} can still be refunded.")
        return minor


# --- inlines on the payment page ---------------------------------------------------------------


class PaymentOrderInline(ReadOnlyInline):
    model = PaymentOrder
    verbose_name = "order covered"
    verbose_name_plural = "orders covered"
    fields = ("order_link", "order_status", "share", "refunded", "active")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order", "payment")

    @admin.display(description="order")
    def order_link(self, allocation: PaymentOrder):
        url = reverse("admin:orders_order_change", args=[allocation.order_id])
        return format_html('<a href="{}">{} (#{})</a>', url, allocation.order.external_id, allocation.order_id)

    @admin.display(description="order status")
    def order_status(self, allocation: PaymentOrder):
        return allocation.order.get_status_display()

    @admin.display(description="share")
    def share(self, allocation: PaymentOrder):
        return amount(allocation.amount, allocation.payment.currency)

    @admin.display(description="refunded")
    def refunded(self, allocation: PaymentOrder):
        return amount(allocation.amount_refunded, allocation.payment.currency)


class RefundInline(ReadOnlyInline):
    model = Refund
    fk_name = "payment"
    verbose_name_plural = "refunds"
    fields = (
        "refund_link",
        "kind",
        "status_badge",
        "refund_amount",
        "order",
        "reason",
        "stripe_refund_id",
        "created_by",
        "created_at",
        "completed_at",
        "last_error",
    )
    readonly_fields = fields
    ordering = ("created_at", "id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("payment", "allocation__order")

    @admin.display(description="refund")
    def refund_link(self, refund: Refund):
        return format_html('<a href="{}">#{}</a>', reverse("admin:payments_refund_change", args=[refund.pk]), refund.pk)

    @admin.display(description="status")
    def status_badge(self, refund: Refund):
        return badge(refund.status, refund.get_status_display())

    @admin.display(description="amount")
    def refund_amount(self, refund: Refund):
        return amount(refund.amount, refund.payment.currency)

    @admin.display(description="order")
    def order(self, refund: Refund):
        return str(refund.allocation.order) if refund.allocation_id else "-"


class PaymentEventInline(AuditInline):
    model = PaymentEvent
    fk_name = "payment"
    status_labels = {**dict(RefundStatus.choices), **dict(PaymentStatus.choices)}
    action_labels = PAYMENT_ACTION_LABELS


# --- payments ----------------------------------------------------------------------------------


@admin.register(Payment)
class PaymentAdmin(ExportMixin, IdSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every payment of the ledger, by card or by bank transfer; the export (CSV, XLSX) follows the filters.

    The search box also takes the payment id, typed as ``12`` or ``#12``."""

    resource_classes = [PaymentResource]
    formats = EXPORT_FORMATS
    list_display = (
        "id",
        "seller_code",
        "amount_display",
        "currency_display",
        "status_badge",
        "method",
        "trigger",
        "orders_count",
        "created_at",
    )
    list_display_links = ("id", "amount_display")
    list_filter = ("status", "method", "trigger", "seller")
    search_fields = ("stripe_payment_intent_id", "stripe_charge_id", "reference", "allocations__order__external_id")
    search_help_text = (
        "Payment id (#12), Stripe PaymentIntent or charge id, bank transfer reference, or an order's external id."
    )
    list_select_related = ("seller",)
    list_per_page = 50
    show_full_result_count = False
    date_hierarchy = "created_at"
    inlines = (PaymentOrderInline, RefundInline, PaymentEventInline)
    change_form_template = "admin/payments/payment/change_form.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "seller_link",
                    "method",
                    "trigger",
                    "status_badge",
                    "amount_display",
                    "refunded_display",
                    "reference",
                    "received_on",
                    "created_by_label",
                    "created_at",
                    "succeeded_at",
                )
            },
        ),
        ("Stripe", {"fields": ("stripe_link", "stripe_charge_id", "stripe_customer_id", "stripe_payment_method_id")}),
        ("Why it did not go through", {"fields": ("failure_code", "failure_message"), "classes": ("collapse",)}),
    )
    readonly_fields = (
        "seller_link",
        "method",
        "trigger",
        "status_badge",
        "amount_display",
        "refunded_display",
        "reference",
        "received_on",
        "created_by_label",
        "created_at",
        "succeeded_at",
        "stripe_link",
        "stripe_charge_id",
        "stripe_customer_id",
        "stripe_payment_method_id",
        "failure_code",
        "failure_message",
    )

    def has_refund_permission(self, request) -> bool:
        return request.user.has_perm(REFUND_PERMISSION)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("seller")
            .annotate(order_count=Count("allocations", distinct=True))
        )

    # --- columns and fields -------------------------------------------------------------------

    @admin.display(description="seller", ordering="seller__code")
    def seller_code(self, payment: Payment):
        return payment.seller.code

    @admin.display(description="started by")
    def created_by_label(self, payment: Payment):
        return actor_label(payment.created_by)

    @admin.display(description="seller")
    def seller_link(self, payment: Payment):
        url = reverse("admin:accounts_seller_change", args=[payment.seller_id])
        return format_html('<a href="{}">{} ({})</a>', url, payment.seller.name, payment.seller.code)

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, payment: Payment):
        return amount(payment.amount, payment.currency)

    @admin.display(description="currency", ordering="currency")
    def currency_display(self, payment: Payment):
        return payment.currency.upper()

    @admin.display(description="status", ordering="status")
    def status_badge(self, payment: Payment):
        return badge(payment.status, payment.get_status_display())

    @admin.display(description="orders", ordering="order_count")
    def orders_count(self, payment: Payment):
        return payment.order_count

    @admin.display(description="refunded")
    def refunded_display(self, payment: Payment):
        if not payment.amount_refunded:
            return "nothing"
        return format_html(
            "{} of {}", money(payment.amount_refunded, payment.currency), money(payment.amount, payment.currency)
        )

    @admin.display(description="PaymentIntent")
    def stripe_link(self, payment: Payment):
        intent_id = payment.stripe_payment_intent_id
        if payment.method == LedgerMethod.BANK_TRANSFER:
            return "none (a bank transfer)"
        if not intent_id:
            return "none (Stripe was not reached)"
        url = stripe_dashboard_url(intent_id)
        if url is None:
            return format_html("<code>{}</code> (local Stripe emulator: no dashboard)", intent_id)
        return format_html(
            '<a href="{}" rel="noopener" target="_blank"><code>{}</code> in the Stripe dashboard</a>', url, intent_id
        )

    # --- the refund action ----------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        payment = self.get_object(request, unquote(object_id))
        refund_url = None
        if payment is not None and self.has_refund_permission(request) and payment.status in REFUNDABLE:
            refund_url = reverse("admin:payments_payment_refund", args=[payment.pk])
        extra_context = {**(extra_context or {}), "refund_url": refund_url}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            *object_action_urls(self, [("refund", self.refund_view, "payments_payment_refund")]),
            *super().get_urls(),
        ]

    def refund_view(self, request, object_id):
        """Ask for amount (the refundable rest by default), reason and optionally the order; then ``payment_refund``."""
        payment = action_object(
            self, request, object_id, allowed=self.has_refund_permission(request), missing="No such payment."
        )
        change_url = reverse("admin:payments_payment_change", args=[payment.pk])
        committed = refund_committed(payment)
        left = payment.amount - committed
        if payment.status not in REFUNDABLE or left <= 0:
            why = (
                "nothing is left to refund"
                if payment.status in REFUNDABLE
                else f"it is {payment.get_status_display().lower()}"
            )
            self.message_user(request, f"Payment #{payment.pk} cannot be refunded: {why}.", messages.ERROR)
            return HttpResponseRedirect(change_url)
        allocations = list(payment.allocations.select_related("order"))
        form = RefundForm(
            request.POST if request.method == "POST" else None, payment=payment, allocations=allocations, left=left
        )
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            try:
                refund = payment_refund(
                    payment_id=payment.pk,
                    amount=data["amount"],
                    reason=data["reason"],
                    order_id=data["order"],
                    actor=Actor.for_user(request.user),
                )
            except DomainError as exc:
                self.message_user(request, exc.detail, messages.ERROR)
            else:
                text = f"Refund #{refund.pk} of {money(refund.amount, payment.currency)}"
                self.log_change(request, payment, f"{text} requested: {data['reason']}")
                if refund.status == RefundStatus.FAILED:
                    self.message_user(request, f"{text} was refused: {refund.last_error}", messages.ERROR)
                else:
                    how = (
                        "It is owed by bank transfer: record the transfer on the refund's page once it is sent."
                        if refund.method == LedgerMethod.BANK_TRANSFER
                        else "It goes back to the seller's card through Stripe; the payment shows it once Stripe "
                        "confirms."
                    )
                    self.message_user(request, f"{text} requested. {how}", messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        return action_page(
            self,
            request,
            original=payment,
            title=f"Refund payment #{payment.pk}",
            intro=[
                f"The money goes back to {payment.seller.name}'s card through Stripe. "
                "Refunding does not cancel any order: cancel the order first if it should not ship."
            ],
            form=form,
            submit_label="Refund",
            back_url=change_url,
            template="admin/payments/payment/refund_form.html",
            payment=payment,
            allocations=allocations,
            committed=committed,
            left=left,
        )


# --- refunds -----------------------------------------------------------------------------------


class BankRefundForm(forms.Form):
    """The bank transfer Finance sent for a refund owed on a payment made by bank transfer."""

    amount = forms.DecimalField(min_value=Decimal("0.01"), max_digits=9, decimal_places=2)
    reference = forms.CharField(max_length=200, help_text="The transfer's reference, as your bank shows it.")
    sent_on = forms.DateField(
        label="sent on", initial=timezone.localdate, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, owed: int, **kwargs):
        kwargs.setdefault("initial", {"amount": Decimal(owed).scaleb(-2)})
        super().__init__(*args, **kwargs)
        self.owed = owed
        self.fields["amount"].help_text = f"The amount actually sent; at most the {money(owed)} owed."

    def clean_amount(self) -> int:
        minor = int(self.cleaned_data["amount"].scaleb(2))
        if minor > self.owed:
            raise forms.ValidationError(f"At most {money(self.owed)} is owed.")
        return minor


@admin.register(Refund)
class RefundAdmin(ExportMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every refund of the ledger; a refund owed by bank transfer is recorded here once it is sent."""

    resource_classes = [RefundResource]
    formats = EXPORT_FORMATS
    change_form_template = "admin/payments/refund/change_form.html"
    list_display = (
        "id",
        "payment_link",
        "seller_code",
        "refund_amount",
        "kind",
        "method",
        "status_badge",
        "reason",
        "created_at",
        "completed_at",
    )
    list_filter = ("status", "method", "kind", "payment__seller")
    search_fields = (
        "stripe_refund_id",
        "reference",
        "payment__stripe_payment_intent_id",
        "allocation__order__external_id",
    )
    search_help_text = "Stripe refund or PaymentIntent id, bank transfer reference, or an order's external id."
    list_select_related = ("payment__seller",)
    list_per_page = 50
    show_full_result_count = False
    fields = (
        "payment_link",
        "seller_code",
        "refund_amount",
        "kind",
        "status_badge",
        "order_link",
        "reason",
        "method",
        "reference",
        "sent_on",
        "stripe_refund_id",
        "attempts",
        "last_error",
        "next_attempt_at",
        "created_by_label",
        "created_at",
        "completed_at",
    )
    readonly_fields = fields

    @admin.display(description="asked by")
    def created_by_label(self, refund: Refund):
        return actor_label(refund.created_by)

    def _owed_by_transfer(self, refund: Refund | None) -> bool:
        return (
            refund is not None and refund.method == LedgerMethod.BANK_TRANSFER and refund.status == RefundStatus.PENDING
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        refund = self.get_object(request, unquote(object_id))
        record_url = None
        if self._owed_by_transfer(refund) and request.user.has_perm(REFUND_PERMISSION):
            record_url = reverse("admin:payments_refund_record_transfer", args=[refund.pk])
        extra_context = {**(extra_context or {}), "record_transfer_url": record_url}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            *object_action_urls(
                self, [("record-transfer", self.record_transfer_view, "payments_refund_record_transfer")]
            ),
            *super().get_urls(),
        ]

    def record_transfer_view(self, request, object_id):
        """Finance sent the refund by bank transfer: the real amount, the reference and the day."""
        refund = action_object(
            self, request, object_id, allowed=request.user.has_perm(REFUND_PERMISSION), missing="No such refund."
        )
        change_url = reverse("admin:payments_refund_change", args=[refund.pk])
        if not self._owed_by_transfer(refund):
            self.message_user(request, f"Refund #{refund.pk} is not owed by bank transfer.", messages.ERROR)
            return HttpResponseRedirect(change_url)
        form = BankRefundForm(request.POST if request.method == "POST" else None, owed=refund.amount)
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            try:
                refund = refund_bank_transfer_record(
                    refund_id=refund.pk,
                    amount=data["amount"],
                    reference=data["reference"],
                    sent_on=data["sent_on"],
                    actor=Actor.for_user(request.user),
                )
            except DomainError as exc:
                form.add_error(None, exc.detail)
            else:
                self.log_change(request, refund, f"Bank transfer {refund.reference} recorded")
                self.message_user(
                    request,
                    f"Refund #{refund.pk}: {money(refund.amount)} sent by bank transfer is recorded.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(change_url)
        return action_page(
            self,
            request,
            original=refund,
            title=f"Record the bank transfer for refund #{refund.pk}",
            intro=[
                f"The seller paid by bank transfer, so {money(refund.amount)} is owed back by bank transfer "
                f"({refund.get_kind_display().lower()}: {refund.reason}).",
                "Record the transfer once you have sent it: the seller's statement shows it from then on.",
            ],
            form=form,
            submit_label="Record the transfer",
            back_url=change_url,
        )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("payment__seller", "allocation__order")

    @admin.display(description="payment", ordering="payment_id")
    def payment_link(self, refund: Refund):
        return format_html(
            '<a href="{}">#{}</a>',
            reverse("admin:payments_payment_change", args=[refund.payment_id]),
            refund.payment_id,
        )

    @admin.display(description="seller", ordering="payment__seller__code")
    def seller_code(self, refund: Refund):
        return refund.payment.seller.code

    @admin.display(description="amount", ordering="amount")
    def refund_amount(self, refund: Refund):
        return amount(refund.amount, refund.payment.currency)

    @admin.display(description="status", ordering="status")
    def status_badge(self, refund: Refund):
        return badge(refund.status, refund.get_status_display())

    @admin.display(description="order")
    def order_link(self, refund: Refund):
        if not refund.allocation_id:
            return "the payment as a whole"
        order = refund.allocation.order
        return format_html('<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[order.pk]), str(order))
