"""The Payments section of the seller page: Auto Checkout and its switch, the default card, the charge history.

``SellerAdmin`` (``console.sellers``) mixes this in. The Auto Checkout flag
is never saved from the seller form: it is switched on its own confirmation
page by ``payments.services.auto_checkout_set``, which refuses to turn it on
without a default card and schedules (or stops) the waiting orders' charges.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from accounts.models import Seller
from core.actors import Actor
from core.admin_tools import object_action_urls
from core.display import local_time
from core.errors import DomainError
from core.money import money
from orders.models import OrderStatus
from payments.admin.common import action_page, badge
from payments.ledger import seller_statement, statement_totals
from payments.models import LedgerMethod
from payments.selectors import seller_default_card, seller_payments
from payments.services import auto_checkout_set

# The seller page shows this many of the newest payments; the payment list has them all.
CHARGE_HISTORY_LIMIT = 10
# The seller page's totals cover this many months with money, the newest first.
STATEMENT_MONTHS = 12


class AutoCheckoutForm(forms.Form):
    """The state asked for travels with the form, so a second click of the same button changes nothing."""

    enabled = forms.ChoiceField(choices=[("on", "on"), ("off", "off")], widget=forms.HiddenInput)


class SellerPaymentsAdminMixin:
    """For ``SellerAdmin``: add ``payments_fieldsets`` to its fieldsets and ``PAYMENTS_READONLY_FIELDS`` to its
    read-only fields."""

    PAYMENTS_READONLY_FIELDS = ("auto_checkout_status", "auto_checkout_switch", "money_by_month", "charge_history")

    def payments_fieldsets(self, request, obj: Seller | None) -> list:
        if obj is None:
            return []  # a new seller has no card yet, so no Auto Checkout and no payments
        fields = ["auto_checkout_switch" if self.has_change_permission(request, obj) else "auto_checkout_status"]
        if request.user.has_perm("payments.view_payment"):
            fields += ["money_by_month", "charge_history"]
        return [("Payments", {"fields": fields})]

    # --- fields -----------------------------------------------------------------------------------

    @admin.display(description="Auto Checkout")
    def auto_checkout_status(self, seller: Seller):
        if seller.auto_checkout:
            state = "On: each order is charged to the default card when its hold ends."
        else:
            state = "Off: the seller pays each order by hand in the portal."
        card = seller_default_card(seller=seller)
        card_text = (
            f"Default card: {card.label}." if card else "No default card on file (the seller adds cards in the portal)."
        )
        return format_html("<strong>{}</strong><br>{}", state, card_text)

    @admin.display(description="Auto Checkout")
    def auto_checkout_switch(self, seller: Seller):
        url = reverse("admin:accounts_seller_auto_checkout", args=[seller.pk])
        label = "Turn Auto Checkout off…" if seller.auto_checkout else "Turn Auto Checkout on…"
        return format_html('{}<br><a class="button" href="{}">{}</a>', self.auto_checkout_status(seller), url, label)

    @admin.display(description="Money by month")
    def money_by_month(self, seller: Seller):
        """The seller's ledger per month (``payments.ledger``): what they paid, by method, what went back, net."""
        months = seller_statement(seller=seller)[:STATEMENT_MONTHS]
        if not months:
            return "No payments or refunds yet."
        total = statement_totals(months)

        def cells(row) -> tuple:
            return (
                money(row.by_method.get(LedgerMethod.CARD, 0)),
                money(row.by_method.get(LedgerMethod.BANK_TRANSFER, 0)),
                money(row.refunds),
                money(row.net),
            )

        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td><strong>{}</strong></td></tr>",
            ((f"{m.month:%B %Y}", *cells(m)) for m in months),
        )
        return format_html(
            '<table class="money-by-month"><thead><tr><th>Month</th><th>Paid by card</th>'
            "<th>Paid by bank transfer</th><th>Refunded</th><th>Net</th></tr></thead><tbody>{}</tbody>"
            "<tfoot><tr><th>Last {} months</th><td>{}</td><td>{}</td><td>{}</td><td><strong>{}</strong></td></tr>"
            "</tfoot></table>",
            rows,
            len(months),
            *cells(total),
        )

    @admin.display(description="Charge history")
    def charge_history(self, seller: Seller):
        payments = list(seller_payments(seller=seller)[:CHARGE_HISTORY_LIMIT])
        if not payments:
            return "No payments yet."
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">#{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:payments_payment_change", args=[p.pk]),
                    p.pk,
                    f"{local_time(p.created_at)}",
                    money(p.amount, p.currency),
                    badge(p.status, p.get_status_display()),
                    f"{p.get_method_display()}: {p.get_trigger_display()}",
                    ", ".join(a.order.external_id for a in p.allocations.all()),
                    money(p.amount_refunded, p.currency) if p.amount_refunded else "",
                )
                for p in payments
            ),
        )
        total = seller.payments.count()
        full_list = f"{reverse('admin:payments_payment_changelist')}?{urlencode({'seller__id__exact': seller.pk})}"
        return format_html(
            '<table class="charge-history"><thead><tr><th>Payment</th><th>Created</th><th>Amount</th><th>Status</th>'
            "<th>How</th><th>Orders</th><th>Refunded</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All {} payment{} of this seller</a></p>',
            rows,
            full_list,
            total,
            "" if total == 1 else "s",
        )

    # --- the Auto Checkout switch -------------------------------------------------------------------

    def get_urls(self):
        return [
            *object_action_urls(self, [("auto-checkout", self.auto_checkout_view, "accounts_seller_auto_checkout")]),
            *super().get_urls(),
        ]

    def auto_checkout_view(self, request, object_id):
        seller = self.get_object(request, unquote(object_id))
        if seller is None:
            raise Http404("No such seller.")
        if not self.has_change_permission(request, seller):
            raise PermissionDenied
        change_url = reverse("admin:accounts_seller_change", args=[seller.pk])
        form = AutoCheckoutForm(
            request.POST if request.method == "POST" else None,
            initial={"enabled": "off" if seller.auto_checkout else "on"},
        )
        if form.is_bound and form.is_valid():
            enabled = form.cleaned_data["enabled"] == "on"
            try:
                seller = auto_checkout_set(seller=seller, enabled=enabled, actor=Actor.for_user(request.user))
            except DomainError as exc:
                verb = "turned on" if enabled else "turned off"
                self.message_user(request, f"Auto Checkout was not {verb}: {exc.detail}", messages.ERROR)
            else:
                state = "on" if seller.auto_checkout else "off"
                self.log_change(request, seller, f"Auto Checkout {state}")
                self.message_user(request, f"Auto Checkout is {state} for {seller.code}.", messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        return action_page(
            self,
            request,
            original=seller,
            form=form,
            back_url=change_url,
            **self._switch_page_text(seller),
        )

    def _switch_page_text(self, seller: Seller) -> dict:
        if seller.auto_checkout:
            return {
                "title": f"Turn Auto Checkout off for {seller.code}",
                "intro": [
                    "Orders stop being charged automatically; the seller pays them by hand in the portal "
                    "and gets email reminders. A charge already sent to Stripe still finishes."
                ],
                "submit_label": "Turn off",
            }
        card = seller_default_card(seller=seller)
        waiting = seller.orders.filter(status=OrderStatus.AWAITING_CHECKOUT, seller_paid_at__isnull=True).count()
        if card is None:
            intro = [
                "The seller has no default card on file, so Auto Checkout cannot be turned on: "
                "the seller must add a card in the portal first."
            ]
        else:
            intro = [f"Each order is charged to the seller's default card ({card.label}) when its hold ends."]
            if waiting:
                intro.append(
                    f"The {waiting} order{'s' if waiting != 1 else ''} already awaiting checkout "
                    f"{'are' if waiting != 1 else 'is'} charged right away."
                )
        return {"title": f"Turn Auto Checkout on for {seller.code}", "intro": intro, "submit_label": "Turn on"}
