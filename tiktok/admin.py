"""TikTok in the console: the connected shops and their state, and the log of events TikTok sent.

Read-only, like every console page: a shop is connected by its seller (or
``manage.py tiktok_connect``), events are written by the webhook. The one
action is processing an event again (``tiktok.services.event_reprocess``).
Tokens are never shown.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import HttpResponseRedirect
from django.urls import reverse
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
from tiktok.models import EventStatus, EventType, Shop, ShopEvent, ShopStatus, TikTokEvent
from tiktok.services import event_reprocess
from tiktok.services.events import REPROCESS_PERMISSION

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
