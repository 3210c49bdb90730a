"""Partners in the console: their sellers, API keys and webhook settings.

A new API key is shown once, on the page that answers the request that issued
it; only its digest is stored. A webhook signing secret is shown the same way,
once (it is stored as is, since it is the key that signs).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.models import Partner, PartnerApiKey
from accounts.services import (
    partner_api_key_issue,
    partner_api_key_revoke,
    partner_create,
    partner_update,
)
from core.actors import Actor
from core.admin_tools import (
    ConfirmForm,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    action_object,
    admin_page,
    adopt_saved,
    confirmation_page,
    object_action_urls,
)
from core.display import local_time
from core.errors import DomainError
from webhooks.services import partner_webhook_configure, partner_webhook_secret_rotate

# Issuing and revoking keys is part of managing the partner.
MANAGE_KEYS_PERMISSION = "accounts.change_partner"


class PartnerApiKeyInline(ReadOnlyInline):
    model = PartnerApiKey
    fields = ("prefix", "label", "created_at", "revoked_at", "revoke_link")
    readonly_fields = fields
    verbose_name_plural = "API keys (only the prefix is stored in clear)"

    @admin.display(description="")
    def revoke_link(self, key: PartnerApiKey):
        if key.revoked_at is not None and key.revoked_at <= timezone.now():
            return "revoked"
        return format_html('<a href="{}">Revoke…</a>', reverse("admin:accounts_partnerapikey_revoke", args=[key.pk]))


class IssueKeyForm(forms.Form):
    label = forms.CharField(
        max_length=100, required=False, help_text="Optional note stored with the key, e.g. where it will be deployed."
    )


class WebhookUrlForm(forms.Form):
    url = forms.CharField(
        label="Webhook URL",
        max_length=500,
        required=False,
        widget=forms.URLInput(attrs={"size": 80}),
        help_text="Where signed event notifications are POSTed. Leave empty to stop sending them.",
    )


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
    change_form_template = "admin/accounts/partner/change_form.html"

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
        text = f"set {local_time(partner.webhook_secret_set_at)}"
        expires = partner.webhook_previous_secret_expires_at
        if partner.webhook_previous_secret and expires and expires > timezone.now():
            text += f"; the previous secret also signs until {local_time(expires)}"
        return text

    def save_model(self, request, obj, form, change):
        actor = Actor.for_user(request.user)
        data = form.cleaned_data
        if change:
            partner = partner_update(
                partner_id=obj.pk,
                name=data["name"],
                sellers=list(data["sellers"]),
                is_active=data["is_active"],
                actor=actor,
            )
        else:
            partner = partner_create(name=data["name"], seller_codes=[s.code for s in data["sellers"]], actor=actor)
            if not data["is_active"]:
                partner = partner_update(
                    partner_id=partner.pk,
                    name=partner.name,
                    sellers=list(data["sellers"]),
                    is_active=False,
                    actor=actor,
                )
        adopt_saved(obj, partner)

    def save_related(self, request, form, formsets, change):
        # The services above already set the sellers; form.save_m2m() would write them a second time.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(
            request, "The partner has no API key yet: use “Issue new API key” to create one.", messages.INFO
        )
        return HttpResponseRedirect(reverse("admin:accounts_partner_change", args=[obj.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_manage_keys": request.user.has_perm(MANAGE_KEYS_PERMISSION)}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            *object_action_urls(
                self,
                [
                    ("issue-key", self.issue_key_view, "accounts_partner_issue_key"),
                    ("webhook", self.webhook_configure_view, "accounts_partner_webhook"),
                    ("webhook/rotate-secret", self.webhook_rotate_view, "accounts_partner_webhook_rotate"),
                ],
            ),
            *super().get_urls(),
        ]

    def _partner_for_manager(self, request, object_id) -> Partner:
        return action_object(
            self, request, object_id, allowed=request.user.has_perm(MANAGE_KEYS_PERMISSION), missing="No such partner."
        )

    def _secret_page(self, request, partner: Partner, secret: str, *, title: str, rotated: bool):
        """The signing secret, in the answer to the POST that created it: the only time it is shown."""
        return admin_page(
            self,
            request,
            "admin/accounts/partner/webhook_secret_shown.html",
            title=title,
            partner=partner,
            secret=secret,
            rotated=rotated,
            grace=settings.WEBHOOK_SECRET_ROTATION_GRACE,
            back_url=reverse("admin:accounts_partner_change", args=[partner.pk]),
        )

    def webhook_configure_view(self, request, object_id):
        """Set or clear the webhook URL; the first URL creates the signing secret, shown on the answer page."""
        partner = self._partner_for_manager(request, object_id)
        change_url = reverse("admin:accounts_partner_change", args=[partner.pk])
        form = WebhookUrlForm(request.POST if request.method == "POST" else None, initial={"url": partner.webhook_url})
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
                message = (
                    "Webhook URL saved." if partner.webhook_url else "Webhooks turned off: no new events are sent."
                )
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        return confirmation_page(
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
        change_url = reverse("admin:accounts_partner_change", args=[partner.pk])
        if request.method != "POST":
            grace = settings.WEBHOOK_SECRET_ROTATION_GRACE
            return confirmation_page(
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
        return self._secret_page(
            request, partner, secret, title=f"New webhook signing secret for {partner}", rotated=True
        )

    def issue_key_view(self, request, object_id):
        """Issue a key and show it in the response to this POST: the only time it is ever shown.

        The key is not put in a flash message, because messages travel in a
        cookie or the session until displayed. (``admin_view`` marks the page
        uncacheable.)
        """
        partner = self._partner_for_manager(request, object_id)
        change_url = reverse("admin:accounts_partner_change", args=[partner.pk])
        form = IssueKeyForm(request.POST if request.method == "POST" else None)
        if not (form.is_bound and form.is_valid()):
            return confirmation_page(
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
        return admin_page(
            self,
            request,
            "admin/accounts/partner/api_key_issued.html",
            title=f"New API key for {partner}",
            partner=partner,
            key=key,
            raw_key=raw_key,
            back_url=change_url,
        )


@admin.register(PartnerApiKey)
class PartnerApiKeyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("prefix", "partner", "label", "created_at", "revoked_at")
    list_filter = ("partner", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("prefix", "partner__name", "label")
    list_select_related = ("partner",)
    fields = ("partner", "prefix", "label", "created_at", "revoked_at")
    readonly_fields = fields
    actions = ("revoke_selected",)

    # Read-only: keys are issued from the partner's page, where the raw key can be shown once, and revoked
    # keys stay, so an old request in the logs can still be traced to its partner.

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
            *object_action_urls(self, [("revoke", self.revoke_view, "accounts_partnerapikey_revoke")]),
            *super().get_urls(),
        ]

    def revoke_view(self, request, object_id):
        key = action_object(
            self, request, object_id, allowed=self.has_revoke_permission(request), missing="No such API key."
        )
        partner_url = reverse("admin:accounts_partner_change", args=[key.partner_id])
        if request.method != "POST":
            return confirmation_page(
                self,
                request,
                title=f"Revoke API key {key.prefix}…",
                intro=f"{key.partner} will get 401 answers for every request made with this key, starting now.",
                form=ConfirmForm(),
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
