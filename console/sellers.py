"""Sellers in the console, with their portal users (memberships) and the Payments section.

Saving calls ``seller_create`` / ``seller_update`` and the membership services,
never ``Model.save()``, so the admin and the provisioning commands check the same rules.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import transaction

from accounts.models import Seller, SellerMembership
from accounts.services import seller_create, seller_membership_add, seller_membership_remove, seller_update
from core.actors import Actor
from core.admin_tools import adopt_saved
from payments.admin import SellerPaymentsAdminMixin


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
                auto_checkout = (
                    Seller.objects.select_for_update().values_list("auto_checkout", flat=True).get(pk=obj.pk)
                )
                seller = seller_update(
                    seller_id=obj.pk, name=data["name"], email=data["email"], auto_checkout=auto_checkout, actor=actor
                )
        else:
            seller = seller_create(code=data["code"], name=data["name"], email=data["email"], actor=actor)
        adopt_saved(obj, seller)

    def save_formset(self, request, form, formset, change):
        if formset.model is not SellerMembership:
            return super().save_formset(request, form, formset, change)
        actor = Actor.for_user(request.user)
        formset.save(commit=False)  # fills new_objects and deleted_objects without writing
        for membership in formset.deleted_objects:
            seller_membership_remove(membership_id=membership.pk, actor=actor)
        for membership in formset.new_objects:
            adopt_saved(membership, seller_membership_add(seller=form.instance, user=membership.user, actor=actor))
