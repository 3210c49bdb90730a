"""Accounts in the console: sellers and their portal users, partners and their API keys.

Saving a form here calls the services in ``backoffice.services`` instead of
``Model.save()``, so the admin and the provisioning commands check the same
rules. A new API key is shown once, on the page that answers the request that
issued it; only its digest is stored.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from backoffice.actors import Actor
from backoffice.errors import DomainError
from backoffice.models import Partner, PartnerApiKey, Seller, SellerMembership
from backoffice.services import (
    partner_api_key_issue,
    partner_api_key_revoke,
    partner_create,
    partner_update,
    seller_create,
    seller_membership_add,
    seller_membership_remove,
    seller_update,
)

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
class SellerAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "email", "auto_checkout", "created_at")
    list_filter = ("auto_checkout",)
    search_fields = ("code", "name", "email")
    fields = ("code", "name", "email", "auto_checkout", "created_at")
    inlines = (SellerMembershipInline,)

    def has_delete_permission(self, request, obj=None):
        # Orders and SKUs protect their seller; deactivation belongs to a later issue.
        return False

    def get_readonly_fields(self, request, obj=None):
        # The code is how partners and CSV files name the seller: fixed once created.
        return ("code", "created_at") if obj is not None else ("created_at",)

    def save_model(self, request, obj, form, change):
        actor = Actor.for_user(request.user)
        data = form.cleaned_data
        if change:
            seller = seller_update(
                seller_id=obj.pk, name=data["name"], email=data["email"], auto_checkout=data["auto_checkout"], actor=actor
            )
        else:
            seller = seller_create(
                code=data["code"], name=data["name"], email=data["email"], auto_checkout=data["auto_checkout"], actor=actor
            )
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


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active", "seller_codes", "active_keys", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "sellers__code")
    fields = ("name", "sellers", "is_active", "created_at")
    readonly_fields = ("created_at",)
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
            *super().get_urls(),
        ]

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
