"""Accounts in the console: sellers and their portal users, partners, their API keys and webhooks.

Saving a form here calls the services in ``backoffice.services`` instead of
``Model.save()``, so the admin and the provisioning commands check the same
rules. A new API key is shown once, on the page that answers the request that
issued it; only its digest is stored. A webhook signing secret is shown the
same way, once (it is stored as is, since it is the key that signs).

The webhook outbox is read-only here: staff see every attempt and can only
redeliver, through ``backoffice.webhooks.webhook_event_redeliver``.
"""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from backoffice.actors import Actor
from backoffice.errors import DomainError
from backoffice.models import (
    Partner,
    PartnerApiKey,
    Seller,
    SellerMembership,
    WebhookDelivery,
    WebhookEvent,
    WebhookEventStatus,
    WebhookEventType,
)
from backoffice.services import (
    partner_api_key_issue,
    partner_api_key_revoke,
    partner_create,
    partner_update,
    partner_webhook_configure,
    partner_webhook_secret_rotate,
    seller_create,
    seller_membership_add,
    seller_membership_remove,
    seller_update,
)
from backoffice.webhooks import webhook_event_body, webhook_event_redeliver
from payments.admin import SellerPaymentsAdminMixin

# Issuing and revoking keys is part of managing the partner.
MANAGE_KEYS_PERMISSION = "backoffice.change_partner"


def _adopt(obj, saved) -> None:
    """Make the admin's unsaved ``obj`` stand for the row a service created, so the admin can log it and redirect."""
    obj.pk = saved.pk
    obj._state.adding = False
    obj._state.db = saved._state.db
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))


def _confirmation_page(model_admin, request, *, title: str, intro: str, form, submit_label: str, back_url: str):
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": model_admin.opts,
        "intro": intro,
        "form": form,
        "submit_label": submit_label,
        "back_url": back_url,
        "media": model_admin.media + form.media,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/backoffice/confirm_form.html", context)


# --- sellers ------------------------------------------------------------------------------


class SellerMembershipForm(forms.ModelForm):
    class Meta:
        model = SellerMembership
        fields = ("user",)

    def clean_user(self):
        user = self.cleaned_data["user"]
        if user.is_staff or user.is_superuser:
            raise forms.ValidationError("Staff accounts cannot be portal users; create a separate, non-staff login.")
        return user


class SellerMembershipInline(admin.TabularInline):
    """Portal logins of the seller. Existing rows can be removed but not re-pointed to another user."""

    model = SellerMembership
    form = SellerMembershipForm
    extra = 0
    raw_id_fields = ("user",)
    verbose_name = "portal user"
    verbose_name_plural = "portal users"

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Seller)
class SellerAdmin(SellerPaymentsAdminMixin, admin.ModelAdmin):
    """Auto Checkout is not a form field: the Payments section switches it through its service."""

    list_display = ("code", "name", "email", "auto_checkout", "created_at")
    list_filter = ("auto_checkout",)
    search_fields = ("code", "name", "email")
    inlines = (SellerMembershipInline,)

    def has_delete_permission(self, request, obj=None):
        # Orders and SKUs protect their seller; deactivation belongs to a later issue.
        return False

    def get_fieldsets(self, request, obj=None):
        return [(None, {"fields": ("code", "name", "email", "created_at")}), *self.payments_fieldsets(request, obj)]

    def get_readonly_fields(self, request, obj=None):
        # The code is how partners and CSV files name the seller: fixed once created.
        fixed = ("code", "created_at") if obj is not None else ("created_at",)
        return (*fixed, *self.PAYMENTS_READONLY_FIELDS)

    def save_model(self, request, obj, form, change):
        actor = Actor.for_user(request.user)
        data = form.cleaned_data
        if change:
            with transaction.atomic():
                # Keep Auto Checkout as it is now (locked), whatever the page showed when it was opened.
                auto_checkout = Seller.objects.select_for_update().values_list("auto_checkout", flat=True).get(pk=obj.pk)
                seller = seller_update(
                    seller_id=obj.pk, name=data["name"], email=data["email"], auto_checkout=auto_checkout, actor=actor
                )
        else:
            seller = seller_create(code=data["code"], name=data["name"], email=data["email"], actor=actor)
        _adopt(obj, seller)

    def save_formset(self, request, form, formset, change):
        if formset.model is not SellerMembership:
            return super().save_formset(request, form, formset, change)
        actor = Actor.for_user(request.user)
        formset.save(commit=False)  # fills new_objects and deleted_objects without writing
        for membership in formset.deleted_objects:
            seller_membership_remove(membership_id=membership.pk, actor=actor)
        for membership in formset.new_objects:
            _adopt(membership, seller_membership_add(seller=form.instance, user=membership.user, actor=actor))


# --- partners and API keys ----------------------------------------------------------------


class PartnerApiKeyInline(admin.TabularInline):
    model = PartnerApiKey
    extra = 0
    can_delete = False
    fields = ("prefix", "label", "created_at", "revoked_at", "revoke_link")
    readonly_fields = fields
    verbose_name_plural = "API keys (only the prefix is stored in clear)"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="")
    def revoke_link(self, key: PartnerApiKey):
        if key.revoked_at is not None and key.revoked_at <= timezone.now():
            return "revoked"
        return format_html('<a href="{}">Revoke…</a>', reverse("admin:backoffice_partnerapikey_revoke", args=[key.pk]))


class IssueKeyForm(forms.Form):
    label = forms.CharField(
        max_length=100, required=False, help_text="Optional note stored with the key, e.g. where it will be deployed."
    )


class RevokeKeyForm(forms.Form):
    """No fields: the page is a confirmation."""


class WebhookUrlForm(forms.Form):
    url = forms.CharField(
        label="Webhook URL",
        max_length=500,
        required=False,
        widget=forms.URLInput(attrs={"size": 80}),
        help_text="Where signed event notifications are POSTed. Leave empty to stop sending them.",
    )


class ConfirmForm(forms.Form):
    """No fields: the page is a confirmation."""


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active", "seller_codes", "active_keys", "webhooks", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "sellers__code")
    fieldsets = (
        (None, {"fields": ("name", "sellers", "is_active", "created_at")}),
        ("Webhooks", {"fields": ("webhook_url", "webhook_secret_status")}),
    )
    readonly_fields = ("created_at", "webhook_url", "webhook_secret_status")
    filter_horizontal = ("sellers",)
    inlines = (PartnerApiKeyInline,)
    change_form_template = "admin/backoffice/partner/change_form.html"

    def has_delete_permission(self, request, obj=None):
        # Orders protect their partner; deactivate it instead (its keys stop working at once).
        return False

    def get_queryset(self, request):
        now = timezone.now()
        active = Q(api_keys__revoked_at__isnull=True) | Q(api_keys__revoked_at__gt=now)
        return (
            super()
            .get_queryset(request)
            .prefetch_related("sellers")
            .annotate(active_key_count=Count("api_keys", filter=active, distinct=True))
        )

    @admin.display(description="sellers")
    def seller_codes(self, partner: Partner):
        return ", ".join(s.code for s in partner.sellers.all())

    @admin.display(description="active keys", ordering="active_key_count")
    def active_keys(self, partner: Partner):
        return partner.active_key_count

    @admin.display(description="webhooks", boolean=True)
    def webhooks(self, partner: Partner):
        return bool(partner.webhook_url)

    @admin.display(description="signing secret")
    def webhook_secret_status(self, partner: Partner):
        """Never the secret itself: only whether there is one, and since when."""
        if not partner.webhook_secret:
            return "none yet (created with the first webhook URL)"
        text = f"set {timezone.localtime(partner.webhook_secret_set_at):%Y-%m-%d %H:%M}"
        expires = partner.webhook_previous_secret_expires_at
        if partner.webhook_previous_secret and expires and expires > timezone.now():
            text += f"; the previous secret also signs until {timezone.localtime(expires):%Y-%m-%d %H:%M}"
        return text

    def save_model(self, request, obj, form, change):
        actor = Actor.for_user(request.user)
        data = form.cleaned_data
        if change:
            partner = partner_update(
                partner_id=obj.pk, name=data["name"], sellers=list(data["sellers"]), is_active=data["is_active"], actor=actor
            )
        else:
            partner = partner_create(name=data["name"], seller_codes=[s.code for s in data["sellers"]], actor=actor)
            if not data["is_active"]:
                partner = partner_update(
                    partner_id=partner.pk, name=partner.name, sellers=list(data["sellers"]), is_active=False, actor=actor
                )
        _adopt(obj, partner)

    def save_related(self, request, form, formsets, change):
        # The services above already set the sellers; form.save_m2m() would write them a second time.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(request, "The partner has no API key yet: use “Issue new API key” to create one.", messages.INFO)
        return HttpResponseRedirect(reverse("admin:backoffice_partner_change", args=[obj.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_manage_keys": request.user.has_perm(MANAGE_KEYS_PERMISSION)}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/issue-key/",
                self.admin_site.admin_view(self.issue_key_view),
                name="backoffice_partner_issue_key",
            ),
            path(
                "<path:object_id>/webhook/",
                self.admin_site.admin_view(self.webhook_configure_view),
                name="backoffice_partner_webhook",
            ),
            path(
                "<path:object_id>/webhook/rotate-secret/",
                self.admin_site.admin_view(self.webhook_rotate_view),
                name="backoffice_partner_webhook_rotate",
            ),
            *super().get_urls(),
        ]

    def _partner_for_manager(self, request, object_id) -> Partner:
        if not request.user.has_perm(MANAGE_KEYS_PERMISSION):
            raise PermissionDenied
        partner = self.get_object(request, unquote(object_id))
        if partner is None:
            raise Http404("No such partner.")
        return partner

    def _secret_page(self, request, partner: Partner, secret: str, *, title: str, rotated: bool):
        """The signing secret, in the answer to the POST that created it: the only time it is shown."""
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "opts": self.opts,
            "partner": partner,
            "secret": secret,
            "rotated": rotated,
            "grace": settings.WEBHOOK_SECRET_ROTATION_GRACE,
            "back_url": reverse("admin:backoffice_partner_change", args=[partner.pk]),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/backoffice/partner/webhook_secret_shown.html", context)

    def webhook_configure_view(self, request, object_id):
        """Set or clear the webhook URL; the first URL creates the signing secret, shown on the answer page."""
        partner = self._partner_for_manager(request, object_id)
        change_url = reverse("admin:backoffice_partner_change", args=[partner.pk])
        form = WebhookUrlForm(
            request.POST if request.method == "POST" else None, initial={"url": partner.webhook_url}
        )
        if form.is_bound and form.is_valid():
            try:
                partner, secret = partner_webhook_configure(
                    partner_id=partner.pk, url=form.cleaned_data["url"], actor=Actor.for_user(request.user)
                )
            except DomainError as exc:
                form.add_error("url", exc.detail)
            else:
                self.log_change(request, partner, f"Webhook URL set to {partner.webhook_url or '(none)'}")
                if secret is not None:
                    return self._secret_page(
                        request, partner, secret, title=f"Webhook signing secret for {partner}", rotated=False
                    )
                message = "Webhook URL saved." if partner.webhook_url else "Webhooks turned off: no new events are sent."
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        return _confirmation_page(
            self,
            request,
            title=f"Webhook URL for {partner}",
            intro="Order events are POSTed here, signed with the partner's secret. "
            "The first URL also creates the secret, shown once on the next page.",
            form=form,
            submit_label="Save",
            back_url=change_url,
        )

    def webhook_rotate_view(self, request, object_id):
        partner = self._partner_for_manager(request, object_id)
        change_url = reverse("admin:backoffice_partner_change", args=[partner.pk])
        if request.method != "POST":
            grace = settings.WEBHOOK_SECRET_ROTATION_GRACE
            return _confirmation_page(
                self,
                request,
                title=f"Rotate the webhook signing secret of {partner}",
                intro=f"A new secret is created and shown once on the next page. The current one keeps signing "
                f"as well for {grace}, so {partner} can switch without rejecting events.",
                form=ConfirmForm(),
                submit_label="Rotate secret",
                back_url=change_url,
            )
        partner, secret = partner_webhook_secret_rotate(partner_id=partner.pk, actor=Actor.for_user(request.user))
        self.log_change(request, partner, "Rotated the webhook signing secret")
        return self._secret_page(request, partner, secret, title=f"New webhook signing secret for {partner}", rotated=True)

    def issue_key_view(self, request, object_id):
        """Issue a key and show it in the response to this POST: the only time it is ever shown.

        The key is not put in a flash message, because messages travel in a
        cookie or the session until displayed. (``admin_view`` marks the page
        uncacheable.)
        """
        if not request.user.has_perm(MANAGE_KEYS_PERMISSION):
            raise PermissionDenied
        partner = self.get_object(request, unquote(object_id))
        if partner is None:
            raise Http404("No such partner.")
        change_url = reverse("admin:backoffice_partner_change", args=[partner.pk])
        form = IssueKeyForm(request.POST if request.method == "POST" else None)
        if not (form.is_bound and form.is_valid()):
            return _confirmation_page(
                self,
                request,
                title=f"Issue an API key for {partner}",
                intro="The new key is shown once, on the next page. Existing keys keep working until you revoke them.",
                form=form,
                submit_label="Issue key",
                back_url=change_url,
            )
        key, raw_key = partner_api_key_issue(
            partner_id=partner.pk, label=form.cleaned_data["label"], actor=Actor.for_user(request.user)
        )
        self.log_change(request, partner, f"Issued API key {key.prefix}…")
        context = {
            **self.admin_site.each_context(request),
            "title": f"New API key for {partner}",
            "subtitle": None,
            "opts": self.opts,
            "partner": partner,
            "key": key,
            "raw_key": raw_key,
            "back_url": change_url,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/backoffice/partner/api_key_issued.html", context)


@admin.register(PartnerApiKey)
class PartnerApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "partner", "label", "created_at", "revoked_at")
    list_filter = ("partner", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("prefix", "partner__name", "label")
    list_select_related = ("partner",)
    fields = ("partner", "prefix", "label", "created_at", "revoked_at")
    readonly_fields = fields
    actions = ("revoke_selected",)

    def has_add_permission(self, request):
        # Keys are issued from the partner's page, where the raw key can be shown once.
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Revoked keys stay, so an old request in the logs can still be traced to its partner.
        return False

    def has_revoke_permission(self, request):
        return request.user.has_perm(MANAGE_KEYS_PERMISSION)

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        actor = Actor.for_user(request.user)
        for key in queryset.select_related("partner"):
            partner_api_key_revoke(key_id=key.pk, actor=actor)
            self.log_change(request, key.partner, f"Revoked API key {key.prefix}…")
            self.message_user(request, f"API key {key.prefix}… of {key.partner} revoked.", messages.SUCCESS)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/revoke/",
                self.admin_site.admin_view(self.revoke_view),
                name="backoffice_partnerapikey_revoke",
            ),
            *super().get_urls(),
        ]

    def revoke_view(self, request, object_id):
        if not self.has_revoke_permission(request):
            raise PermissionDenied
        key = self.get_object(request, unquote(object_id))
        if key is None:
            raise Http404("No such API key.")
        partner_url = reverse("admin:backoffice_partner_change", args=[key.partner_id])
        if request.method != "POST":
            return _confirmation_page(
                self,
                request,
                title=f"Revoke API key {key.prefix}…",
                intro=f"{key.partner} will get 401 answers for every request made with this key, starting now.",
                form=RevokeKeyForm(),
                submit_label="Revoke key",
                back_url=partner_url,
            )
        try:
            partner_api_key_revoke(key_id=key.pk, actor=Actor.for_user(request.user))
        except DomainError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
        else:
            self.log_change(request, key.partner, f"Revoked API key {key.prefix}…")
            self.message_user(request, f"API key {key.prefix}… revoked.", messages.SUCCESS)
        return HttpResponseRedirect(partner_url)


# --- partner webhooks: the outbox -----------------------------------------------------------

REDELIVER_PERMISSION = "backoffice.redeliver_webhookevent"
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


class WebhookDeliveryInline(admin.TabularInline):
    """Every HTTP attempt, written by the delivery service only."""

    model = WebhookDelivery
    extra = 0
    can_delete = False
    fields = ("round", "number", "started_at", "url", "status_code", "duration_ms", "outcome")
    readonly_fields = fields
    ordering = ("round", "number")
    verbose_name_plural = "delivery attempts"

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("backoffice.view_webhookevent")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="outcome")
    def outcome(self, delivery: WebhookDelivery):
        if delivery.finished_at is None and not delivery.error:
            return "in progress"
        if delivery.succeeded:
            return format_html('<strong style="color:#1e7b34">{}</strong>', "delivered")
        return format_html('<span style="color:#b3261e">{}</span>', delivery.error or "failed")


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
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
    search_fields = ("uuid", "order__external_id")
    search_help_text = "Event id, order id (#123) or the order's external id."
    list_select_related = ("partner", "order")
    list_per_page = 50
    show_full_result_count = False
    inlines = (WebhookDeliveryInline,)
    actions = ("redeliver_selected",)
    change_form_template = "admin/backoffice/webhookevent/change_form.html"
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_redeliver_permission(self, request):
        return request.user.has_perm(REDELIVER_PERMISSION)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("partner", "order__seller")

    def get_search_results(self, request, queryset, search_term):
        """Also match the order id, typed as ``123`` or ``#123``."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().removeprefix("#")
        if term.isdigit():
            results |= queryset.filter(order_id=int(term))
        return results, may_have_duplicates

    # --- columns and fields -------------------------------------------------------------------

    @admin.display(description="event id", ordering="uuid")
    def event_id_short(self, event: WebhookEvent):
        return format_html('<code title="{}">{}…</code>', event.uuid, str(event.uuid)[:8])

    @admin.display(description="order", ordering="order_id")
    def order_link(self, event: WebhookEvent):
        if event.order_id is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[event.order_id]), str(event.order)
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
        from django_fsm_log.models import StateLog

        rows = StateLog.objects.for_(event).select_related("by").order_by("timestamp", "pk")
        items = format_html_join(
            "",
            "<li>{}: {} → {}{}</li>",
            (
                (
                    f"{timezone.localtime(row.timestamp):%Y-%m-%d %H:%M:%S}",
                    row.source_state,
                    row.state,
                    f" ({row.description})" if row.description else "",
                )
                for row in rows
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
            path(
                "<path:object_id>/redeliver/",
                self.admin_site.admin_view(self.redeliver_view),
                name="backoffice_webhookevent_redeliver",
            ),
            *super().get_urls(),
        ]

    def redeliver_view(self, request, object_id):
        if not self.has_redeliver_permission(request):
            raise PermissionDenied
        event = self.get_object(request, unquote(object_id))
        if event is None:
            raise Http404("No such webhook event.")
        change_url = reverse("admin:backoffice_webhookevent_change", args=[event.pk])
        if request.method != "POST":
            return _confirmation_page(
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
        events = list(queryset.order_by("pk")[: REDELIVER_BULK_LIMIT + 1])
        if len(events) > REDELIVER_BULK_LIMIT:
            self.message_user(request, f"Select at most {REDELIVER_BULK_LIMIT} events at a time.", messages.WARNING)
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
            self.message_user(request, f"{already_pending} event(s) were still pending and were left as they are.", messages.INFO)
        for detail, count in refused.items():
            self.message_user(request, f"{count} event(s) not redelivered: {detail}", messages.ERROR)
