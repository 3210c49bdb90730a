"""The checkout emails sellers got (reminders and daily digests): read-only, to answer "did the seller get it?"."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.admin_tools import ReadOnlyAdminMixin
from payments.models import SellerEmail, SellerEmailStatus

EMAIL_STATUS_COLOURS = {
    SellerEmailStatus.PENDING: "#8a6d00",
    SellerEmailStatus.SENT: "#1e7b34",
    SellerEmailStatus.SKIPPED: "#777",
    SellerEmailStatus.FAILED: "#b3261e",
}


class RetryingFilter(admin.SimpleListFilter):
    """Pending emails the mail server refused at least once: trouble before anything is marked failed."""

    title = "failing"
    parameter_name = "retrying"

    def lookups(self, request, model_admin):
        return [("yes", "Retrying after a refused send")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status=SellerEmailStatus.PENDING).exclude(last_error="")
        return queryset


@admin.register(SellerEmail)
class SellerEmailAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "seller",
        "kind",
        "status_badge",
        "digest_date",
        "recipient",
        "subject",
        "attempts",
        "sent_at",
        "created_at",
    )
    list_filter = ("kind", "status", RetryingFilter, "seller")
    search_fields = ("seller__code", "recipient", "subject", "reminders__order__external_id")
    search_help_text = "Seller code, address, subject, or the external id of an order a reminder mentioned."
    list_select_related = ("seller",)
    list_per_page = 50
    show_full_result_count = False
    fields = (
        "seller",
        "kind",
        "status_badge",
        "digest_date",
        "recipient",
        "subject",
        "orders",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "sent_at",
    )
    readonly_fields = fields

    @admin.display(description="status", ordering="status")
    def status_badge(self, email: SellerEmail):
        return format_html(
            '<strong style="color:{};white-space:nowrap">{}</strong>',
            EMAIL_STATUS_COLOURS.get(email.status, "inherit"),
            email.get_status_display(),
        )

    @admin.display(description="orders reminded of")
    def orders(self, email: SellerEmail):
        """The orders a reminder was written for; a digest lists whatever waited when it was sent."""
        rows = list(email.reminders.select_related("order"))
        if not rows:
            return "-"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:orders_order_change", args=[row.order_id]), str(row.order)) for row in rows),
        )
