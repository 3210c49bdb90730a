"""TikTok in the console: the connected shops and their state, and the log of events TikTok sent.

Read-only, like every console page: a shop is connected by its seller (or
``manage.py tiktok_connect``), events are written by the webhook. The one
action is processing an event again (``tiktok.services.event_reprocess``).
Tokens are never shown.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

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
    run_each,
)
from core.paginators import EstimatedCountPaginator
from orders.models import Order
from tiktok.models import (
    CALL_OPEN,
    CallStatus,
    CarrierProvider,
    EventStatus,
    EventType,
    ShippingDocument,
    Shop,
    ShopEvent,
    ShopStatus,
    SkuLink,
    TikTokCall,
    TikTokCallAttempt,
    TikTokEvent,
)
from tiktok.services import event_reprocess
from tiktok.services.documents import DOCUMENT_TYPES, documents_merge
from tiktok.services.events import REPROCESS_PERMISSION
from tiktok.services.outbox import RETRY_PERMISSION, call_retry
from tiktok.services.providers import tiktok_shipping_providers

REPROCESS_BULK_LIMIT = 100
SHOP_STATUS_COLOURS = {
    ShopStatus.ACTIVE: "#1e7b34",
    ShopStatus.TOKEN_EXPIRED: "#b3261e",
    ShopStatus.DEAUTHORISED: "#777",
}
EVENT_STATUS_COLOURS = {
    EventStatus.RECEIVED: "#8a6d00",
    EventStatus.PROCESSED: "#1e7b34",
    EventStatus.FAILED: "#b3261e",
    EventStatus.IGNORED: "#777",
}


def _badge(colour: str, text: str):
    return format_html('<strong style="color:{};white-space:nowrap">{}</strong>', colour, text)


class ShopEventInline(ReadOnlyInline):
    model = ShopEvent
    verbose_name_plural = "history"
    fields = ("created_at", "action", "from_status", "to_status", "actor", "note")
    readonly_fields = fields
    ordering = ("created_at", "id")


@admin.register(Shop)
class ShopAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name_display", "seller", "shop_id", "region", "status_badge", "last_synced_at", "sync_error")
    list_filter = ("status", "region", "seller")
    search_fields = ("name", "shop_id", "seller__code")
    list_select_related = ("seller",)
    inlines = (ShopEventInline,)
    fieldsets = (
        (None, {"fields": ("name_display", "seller", "partner", "shop_id", "code", "region", "shop_cipher")}),
        ("Connection", {"fields": ("status_badge", "status_note", "connected_at", "disconnected_at")}),
        (
            "Tokens (stored encrypted, never shown)",
            {"fields": ("access_token_expires_at", "refresh_token_expires_at", "token_refresh_at", "timer_error")},
        ),
        ("Sync", {"fields": ("last_synced_at", "next_poll_at", "sync_cursor", "sync_error", "events_link")}),
    )
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])

    @admin.display(description="shop", ordering="name")
    def name_display(self, shop: Shop):
        return str(shop)

    @admin.display(description="connection", ordering="status")
    def status_badge(self, shop: Shop):
        return _badge(SHOP_STATUS_COLOURS.get(shop.status, "inherit"), shop.get_status_display())

    @admin.display(description="events")
    def events_link(self, shop: Shop):
        url = reverse("admin:tiktok_tiktokevent_changelist")
        return format_html('<a href="{}?shop__id__exact={}">Events from this shop</a>', url, shop.pk)


class EventTypeFilter(admin.SimpleListFilter):
    title = "type"
    parameter_name = "type"

    def lookups(self, request, model_admin):
        return [(str(value), label) for value, label in EventType.choices]

    def queryset(self, request, queryset):
        return queryset.filter(type=int(self.value())) if (self.value() or "").isdigit() else queryset


@admin.register(TikTokEvent)
class TikTokEventAdmin(IdSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "received_at",
        "type_display",
        "shop",
        "order_link",
        "status_badge",
        "attempts",
        "next_attempt_at",
        "error_short",
    )
    list_display_links = ("received_at",)
    list_filter = ("status", EventTypeFilter, "shop")
    search_fields = ("notification_id", "tiktok_order_id")
    search_help_text = "TikTok's notification id or order id."
    list_select_related = ("shop",)
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator  # no COUNT over the whole table per page view
    actions = ("reprocess_selected",)
    change_form_template = "admin/tiktok/tiktokevent/change_form.html"
    fieldsets = (
        (None, {"fields": ("type_display", "shop", "tiktok_shop_id", "notification_id", "order_link", "sent_at")}),
        (
            "Processing",
            {"fields": ("status_badge", "received_at", "attempts", "next_attempt_at", "processed_at", "error")},
        ),
        ("Body (as received)", {"fields": ("body_pretty",)}),
    )
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])

    def has_reprocess_permission(self, request):
        return request.user.has_perm(REPROCESS_PERMISSION)

    @admin.display(description="type", ordering="type")
    def type_display(self, event: TikTokEvent):
        return event.get_type_display()

    @admin.display(description="status", ordering="status")
    def status_badge(self, event: TikTokEvent):
        return _badge(EVENT_STATUS_COLOURS.get(event.status, "inherit"), event.get_status_display())

    @admin.display(description="order", ordering="tiktok_order_id")
    def order_link(self, event: TikTokEvent):
        if not event.tiktok_order_id:
            return "-"
        order = None
        if event.shop is not None:
            order = Order.objects.filter(partner_id=event.shop.partner_id, external_id=event.tiktok_order_id).first()
        if order is None:
            return event.tiktok_order_id
        return format_html(
            '<a href="{}">#{} {}</a>',
            reverse("admin:orders_order_change", args=[order.pk]),
            order.pk,
            order.external_id,
        )

    @admin.display(description="error")
    def error_short(self, event: TikTokEvent):
        return event.error if len(event.error) <= 80 else f"{event.error[:79]}…"

    @admin.display(description="body")
    def body_pretty(self, event: TikTokEvent):
        return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', json.dumps(event.body, indent=2))

    # --- processing again ------------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        event = self.get_object(request, unquote(object_id))
        can = event is not None and self.has_reprocess_permission(request) and event.status != EventStatus.IGNORED
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "can_reprocess": can})

    def get_urls(self):
        return [
            *object_action_urls(self, [("reprocess", self.reprocess_view, "tiktok_tiktokevent_reprocess")]),
            *super().get_urls(),
        ]

    def _reprocess(self, event: TikTokEvent, actor: Actor) -> str:
        event = event_reprocess(event_id=event.pk, actor=actor)
        event.refresh_from_db()
        if event.status == EventStatus.PROCESSED:
            return f"Event {event.pk} processed."
        if event.status == EventStatus.IGNORED:
            return f"Event {event.pk} is ignored ({event.error}); nothing to do."
        return f"Event {event.pk} failed again: {event.error}"

    def reprocess_view(self, request, object_id):
        event = action_object(
            self, request, object_id, allowed=self.has_reprocess_permission(request), missing="No such TikTok event."
        )
        change_url = reverse("admin:tiktok_tiktokevent_change", args=[event.pk])
        if request.method != "POST":
            return confirmation_page(
                self,
                request,
                title=f"Process {event} again",
                intro="TikTok is asked for the order's current state now and our order is brought in line with it. "
                "Running it again is safe: nothing changes twice.",
                form=ConfirmForm(),
                submit_label="Process again",
                back_url=change_url,
            )
        run_each(self, request, [event], lambda e: self._reprocess(e, Actor.for_user(request.user)))
        self.log_change(request, event, "Processed again")
        return HttpResponseRedirect(change_url)

    @admin.action(description="Process selected events again", permissions=["reprocess"])
    def reprocess_selected(self, request, queryset):
        events = bulk_selection(self, request, queryset, limit=REPROCESS_BULK_LIMIT, noun="events")
        if events is None:
            return
        actor = Actor.for_user(request.user)
        run_each(self, request, events, lambda e: self._reprocess(e, actor), label=lambda e: f"Event {e.pk}")
        if not events:
            self.message_user(request, "Nothing selected.", messages.INFO)


# --- TikTok sync: the outbox of calls to TikTok (R17) ------------------------------------------------------

CALL_STATUS_COLOURS = {
    CallStatus.PENDING: "#8a6d00",
    CallStatus.SENDING: "#8a6d00",
    CallStatus.FAILED: "#b3261e",
    CallStatus.SUCCEEDED: "#1e7b34",
    CallStatus.REJECTED: "#b3261e",
    CallStatus.PARKED: "#b3261e",
    CallStatus.SUPERSEDED: "#777",
}
RETRY_BULK_LIMIT = 100


class CallAttemptInline(ReadOnlyInline):
    model = TikTokCallAttempt
    verbose_name_plural = "attempts"
    fields = ("number", "at", "outcome", "http_status", "code", "message", "duration_ms")
    readonly_fields = fields
    ordering = ("number",)


class CallQueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("attention", "Failed, refused or parked"), ("open", "Waiting or retrying")]

    def queryset(self, request, queryset):
        if self.value() == "attention":
            return queryset.filter(status__in=[CallStatus.FAILED, CallStatus.REJECTED, CallStatus.PARKED])
        if self.value() == "open":
            return queryset.filter(status__in=CALL_OPEN)
        return queryset


@admin.register(TikTokCall)
class TikTokCallAdmin(IdSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The "TikTok sync" queue: every call our decisions made, its attempts, and TikTok's refusals."""

    list_display = (
        "created_at",
        "operation",
        "shop",
        "order_link",
        "target",
        "status_badge",
        "attempts",
        "next_attempt_at",
        "reason_display",
    )
    list_display_links = ("created_at",)
    list_filter = (CallQueueFilter, "status", "operation", "shop")
    search_fields = ("target", "idempotency_key", "order__external_id")
    search_help_text = "TikTok's id (package, request, return, product), the idempotency key, or the order's id."
    list_select_related = ("shop", "order")
    list_per_page = 50
    show_full_result_count = False
    actions = ("retry_selected",)
    inlines = (CallAttemptInline,)
    fieldsets = (
        (None, {"fields": ("operation", "shop", "order_link", "target", "requested_by", "created_at")}),
        (
            "Sending",
            {
                "fields": (
                    "status_badge",
                    "attempts",
                    "last_attempt_at",
                    "next_attempt_at",
                    "completed_at",
                    "error_code",
                    "error",
                    "idempotency_key",
                )
            },
        ),
        ("What was sent, and TikTok's answer", {"fields": ("payload_pretty", "result_pretty")}),
    )
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])

    def has_retry_permission(self, request):
        return request.user.has_perm(RETRY_PERMISSION)

    @admin.display(description="status", ordering="status")
    def status_badge(self, call: TikTokCall):
        return _badge(CALL_STATUS_COLOURS.get(call.status, "inherit"), call.get_status_display())

    @admin.display(description="order", ordering="order")
    def order_link(self, call: TikTokCall):
        if call.order_id is None:
            return "-"
        return format_html(
            '<a href="{}">#{} {}</a>',
            reverse("admin:orders_order_change", args=[call.order_id]),
            call.order_id,
            call.order.external_id,
        )

    @admin.display(description="reason")
    def reason_display(self, call: TikTokCall):
        return call.reason or "-"

    @admin.display(description="payload")
    def payload_pretty(self, call: TikTokCall):
        return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', json.dumps(call.payload, indent=2))

    @admin.display(description="answer")
    def result_pretty(self, call: TikTokCall):
        if call.result is None:
            return "-"
        return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', json.dumps(call.result, indent=2))

    def _retry(self, call: TikTokCall, actor: Actor) -> str:
        call = call_retry(call_id=call.pk, actor=actor)
        call.refresh_from_db()
        return f"Call {call.pk}: {call.get_status_display().lower()}" + (f" ({call.reason})" if call.reason else "")

    @admin.action(description="Send selected calls again", permissions=["retry"])
    def retry_selected(self, request, queryset):
        chosen = bulk_selection(self, request, queryset, limit=RETRY_BULK_LIMIT, noun="calls")
        if chosen is None:
            return
        actor = Actor.for_user(request.user)
        run_each(self, request, chosen, lambda c: self._retry(c, actor), label=lambda c: f"Call {c.pk}")


class ProviderChoiceForm(forms.ModelForm):
    """The provider is picked from TikTok's list of shipping providers (read from a connected shop)."""

    provider = forms.ChoiceField(label="TikTok shipping provider", choices=())

    class Meta:
        model = CarrierProvider
        fields = ("carrier",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        providers = tiktok_shipping_providers()
        self.providers = {p["id"]: p["name"] for p in providers}
        self.fields["provider"].choices = [("", "---------")] + [
            (p["id"], f"{p['name']} ({p['id']})") for p in providers
        ]
        if self.instance.pk:
            self.fields["provider"].initial = self.instance.provider_id
            if self.instance.provider_id not in self.providers:
                self.fields["provider"].choices.append(
                    (self.instance.provider_id, self.instance.provider_name or self.instance.provider_id)
                )
                self.providers[self.instance.provider_id] = self.instance.provider_name
        if not providers:
            self.fields["provider"].help_text = "TikTok's list could not be read: connect a shop first."

    def save(self, commit=True):
        self.instance.provider_id = self.cleaned_data["provider"]
        self.instance.provider_name = self.providers.get(self.instance.provider_id, "")
        return super().save(commit)


@admin.register(CarrierProvider)
class CarrierProviderAdmin(admin.ModelAdmin):
    form = ProviderChoiceForm
    list_display = ("carrier", "provider_name", "provider_id", "updated_at")


@admin.register(SkuLink)
class SkuLinkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("sku", "shop", "product_id", "tiktok_sku_id", "pushed_quantity", "pushed_at", "changed_at")
    list_filter = ("shop",)
    search_fields = ("sku__code", "tiktok_sku_id", "product_id")
    list_select_related = ("sku", "shop")


@admin.register(ShippingDocument)
class ShippingDocumentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """TikTok's labels and packing slips, and the print view that merges a selection into one PDF."""

    list_display = ("order", "document_type", "package_id", "fetched_at")
    list_filter = ("document_type",)
    search_fields = ("order__external_id", "package_id")
    list_select_related = ("order",)
    fields = ("order", "document_type", "package_id", "fetched_at")

    def get_urls(self):
        view = self.admin_site.admin_view(self.print_view)
        return [path("print/", view, name="tiktok_documents_print"), *super().get_urls()]

    def print_view(self, request):
        """``?ids=1,2,3&type=SHIPPING_LABEL|PACKING_SLIP``: one PDF with a page per document, in that order."""
        if not (request.user.has_perm("fulfillment.view_shipment") and request.user.has_perm("orders.view_order")):
            raise PermissionDenied
        back = request.GET.get("next", "")
        if not back.startswith(reverse("admin:index")):
            back = reverse("admin:fulfillment_console")
        ids = [int(v) for v in request.GET.get("ids", "").split(",") if v.isdigit()][:100]
        kind = request.GET.get("type", "SHIPPING_LABEL")
        if kind not in DOCUMENT_TYPES or not ids:
            self.message_user(request, "Select TikTok orders and a document to print.", messages.WARNING)
            return HttpResponseRedirect(back)
        ordered = list(Order.objects.filter(pk__in=ids).order_by("ship_by", "id").values_list("pk", flat=True))
        pdf, problems = documents_merge(order_ids=ordered, document_type=kind)
        for problem in problems:
            self.message_user(request, problem, messages.WARNING)
        if not pdf:
            self.message_user(request, "None of the selected orders has a TikTok document to print.", messages.ERROR)
            return HttpResponseRedirect(back)
        response = HttpResponse(pdf, content_type="application/pdf")
        name = "tiktok-labels" if kind == "SHIPPING_LABEL" else "tiktok-packing-slips"
        response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.now():%Y%m%d-%H%M%S}.pdf"'
        return response
