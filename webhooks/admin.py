"""The webhook outbox in the console: read-only; staff see every attempt and can only
redeliver, through ``webhooks.services.webhook_event_redeliver``.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.actors import Actor
from core.admin_tools import (
    ConfirmForm,
    IdSearchMixin,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    action_object,
    bulk_selection,
    confirmation_page,
    object_action_urls,
)
from core.errors import DomainError
from core.paginators import EstimatedCountPaginator
from webhooks.models import WebhookDelivery, WebhookEvent, WebhookEventStatus, WebhookEventType
from webhooks.services import webhook_event_body, webhook_event_redeliver

REDELIVER_PERMISSION = "webhooks.redeliver_webhookevent"
# Each redelivery is its own locked transaction; keep one request well inside the web server's timeout.
REDELIVER_BULK_LIMIT = 500
WEBHOOK_STATUS_COLOURS = {
    WebhookEventStatus.PENDING: "#8a6d00",
    WebhookEventStatus.DELIVERED: "#1e7b34",
    WebhookEventStatus.PARKED: "#b3261e",
}


class WebhookTypeFilter(admin.SimpleListFilter):
    """Filter by event type, listing every registered type (the column has no choices)."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request, model_admin):
        return WebhookEventType.choices

    def queryset(self, request, queryset):
        return queryset.filter(type=self.value()) if self.value() else queryset


class WebhookRetryingFilter(admin.SimpleListFilter):
    """Pending events that have failed at least once: an endpoint in trouble before anything parks."""

    title = "failing"
    parameter_name = "retrying"

    def lookups(self, request, model_admin):
        return [("yes", "Retrying after a failed attempt")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status=WebhookEventStatus.PENDING, attempts__gt=0)
        return queryset


class WebhookDeliveryInline(ReadOnlyInline):
    """Every HTTP attempt, written by the delivery service only."""

    model = WebhookDelivery
    fields = ("round", "number", "started_at", "url", "status_code", "duration_ms", "outcome")
    readonly_fields = fields
    ordering = ("round", "number")
    verbose_name_plural = "delivery attempts"

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("webhooks.view_webhookevent")

    @admin.display(description="outcome")
    def outcome(self, delivery: WebhookDelivery):
        if delivery.finished_at is None and not delivery.error:
            return "in progress"
        if delivery.succeeded:
            return format_html('<strong style="color:#1e7b34">{}</strong>', "delivered")
        return format_html('<span style="color:#b3261e">{}</span>', delivery.error or "failed")


@admin.register(WebhookEvent)
class WebhookEventAdmin(IdSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The webhook outbox: what was sent to which partner, every attempt, and redelivery of parked events."""

    list_display = (
        "event_id_short",
        "type",
        "partner",
        "order_link",
        "status_badge",
        "attempts_display",
        "next_attempt_at",
        "occurred_at",
        "last_error_short",
    )
    list_display_links = ("event_id_short",)
    list_filter = ("status", WebhookRetryingFilter, WebhookTypeFilter, "partner")
    search_fields = ("uuid", "external_id")
    search_help_text = "Event id, order id (#123) or the order's external id."
    list_select_related = ("partner",)
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator  # no COUNT over the whole table per page view
    inlines = (WebhookDeliveryInline,)
    actions = ("redeliver_selected",)
    change_form_template = "admin/webhooks/webhookevent/change_form.html"
    fieldsets = (
        (None, {"fields": ("uuid", "type", "partner", "order_link", "occurred_at")}),
        (
            "Delivery",
            {
                "fields": (
                    "status_badge",
                    "round",
                    "attempts",
                    "next_attempt_at",
                    "last_attempt_at",
                    "delivered_at",
                    "last_error",
                )
            },
        ),
        ("Payload (the exact body sent)", {"fields": ("payload",)}),
        ("History", {"fields": ("history",)}),
    )
    readonly_fields = (
        "uuid",
        "type",
        "partner",
        "order_link",
        "occurred_at",
        "status_badge",
        "round",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "delivered_at",
        "last_error",
        "payload",
        "history",
    )

    # The search box also takes the order id, typed as ``123`` or ``#123``.
    id_search_field = "order_id"

    def has_redeliver_permission(self, request):
        return request.user.has_perm(REDELIVER_PERMISSION)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("partner")

    # --- columns and fields -------------------------------------------------------------------

    @admin.display(description="event id", ordering="uuid")
    def event_id_short(self, event: WebhookEvent):
        return format_html('<code title="{}">{}…</code>', event.uuid, str(event.uuid)[:8])

    @admin.display(description="order", ordering="order_id")
    def order_link(self, event: WebhookEvent):
        if event.order_id is None:
            return "-"
        return format_html(
            '<a href="{}">#{} {}</a>',
            reverse("admin:orders_order_change", args=[event.order_id]),
            event.order_id,
            event.external_id,
        )

    @admin.display(description="status", ordering="status")
    def status_badge(self, event: WebhookEvent):
        return format_html(
            '<strong style="color:{};white-space:nowrap">{}</strong>',
            WEBHOOK_STATUS_COLOURS.get(event.status, "inherit"),
            event.get_status_display(),
        )

    @admin.display(description="attempts", ordering="attempts")
    def attempts_display(self, event: WebhookEvent):
        return f"{event.attempts} (round {event.round})" if event.round > 1 else str(event.attempts)

    @admin.display(description="last error")
    def last_error_short(self, event: WebhookEvent):
        text = event.last_error
        return text if len(text) <= 80 else f"{text[:79]}…"

    @admin.display(description="payload")
    def payload(self, event: WebhookEvent):
        body = json.loads(webhook_event_body(event))
        return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', json.dumps(body, indent=2))

    @admin.display(description="state changes")
    def history(self, event: WebhookEvent):
        items = format_html_join(
            "",
            "<li>{}: {} → {} by {}{}</li>",
            (
                (
                    f"{timezone.localtime(row.created_at):%Y-%m-%d %H:%M:%S}",
                    row.from_status,
                    row.to_status,
                    row.actor,
                    f" ({row.note})" if row.note else "",
                )
                for row in event.history.all()
            ),
        )
        return format_html('<ul style="margin:0">{}</ul>', items) if items else "none yet"

    # --- redelivery -----------------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        event = self.get_object(request, unquote(object_id))
        can_redeliver = (
            event is not None and self.has_redeliver_permission(request) and event.status != WebhookEventStatus.PENDING
        )
        extra_context = {**(extra_context or {}), "can_redeliver": can_redeliver}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            *object_action_urls(self, [("redeliver", self.redeliver_view, "webhooks_webhookevent_redeliver")]),
            *super().get_urls(),
        ]

    def redeliver_view(self, request, object_id):
        event = action_object(
            self, request, object_id, allowed=self.has_redeliver_permission(request), missing="No such webhook event."
        )
        change_url = reverse("admin:webhooks_webhookevent_change", args=[event.pk])
        if request.method != "POST":
            return confirmation_page(
                self,
                request,
                title=f"Redeliver {event.type} {event.uuid}",
                intro=f"The event is sent to {event.partner} again now, with a fresh retry schedule "
                "if it fails. Partners dedupe on the event id, so a repeat is safe.",
                form=ConfirmForm(),
                submit_label="Redeliver",
                back_url=change_url,
            )
        try:
            event = webhook_event_redeliver(event_id=event.pk, actor=Actor.for_user(request.user))
        except DomainError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
        else:
            self.log_change(request, event, f"Queued for redelivery (round {event.round})")
            self.message_user(request, f"Event {event.uuid} queued for redelivery.", messages.SUCCESS)
        return HttpResponseRedirect(change_url)

    @admin.action(description="Redeliver selected webhook events", permissions=["redeliver"])
    def redeliver_selected(self, request, queryset):
        events = bulk_selection(self, request, queryset, limit=REDELIVER_BULK_LIMIT, noun="events")
        if events is None:
            return
        actor = Actor.for_user(request.user)
        queued, already_pending, refused = 0, 0, {}
        for event in events:
            if event.status == WebhookEventStatus.PENDING:
                already_pending += 1
                continue
            try:
                event = webhook_event_redeliver(event_id=event.pk, actor=actor)
            except DomainError as exc:
                refused[exc.detail] = refused.get(exc.detail, 0) + 1
                continue
            self.log_change(request, event, f"Queued for redelivery (round {event.round})")
            queued += 1
        if queued:
            self.message_user(request, f"{queued} event(s) queued for redelivery.", messages.SUCCESS)
        if already_pending:
            self.message_user(
                request, f"{already_pending} event(s) were still pending and were left as they are.", messages.INFO
            )
        for detail, count in refused.items():
            self.message_user(request, f"{count} event(s) not redelivered: {detail}", messages.ERROR)
