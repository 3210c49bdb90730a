"""Forms for the seller portal: the login form and the order list's filter form."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import SellerMembership
from orders.models import OrderStatus


class PortalAuthenticationForm(AuthenticationForm):
    """Django's login form, refusing accounts that are not linked to a seller.

    Staff accounts have no seller; letting them in would show an empty portal,
    so they are told to use the admin instead.
    """

    error_messages = {
        **AuthenticationForm.error_messages,
        "no_seller": (
            "This account is not linked to a seller, so it cannot use the seller portal. "
            "Staff should sign in to the admin console instead."
        ),
    }

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not SellerMembership.objects.filter(user=user).exists():
            raise forms.ValidationError(self.error_messages["no_seller"], code="no_seller")


class OrderFilterForm(forms.Form):
    """The order list's query string: which status tab, and what to search for.

    Both fields are optional; an unknown status or an over-long search is
    reported and ignored rather than turned into an error page.
    """

    status = forms.ChoiceField(required=False, choices=[("", "All"), *OrderStatus.choices])
    q = forms.CharField(
        required=False,
        max_length=100,
        strip=True,
        label="Search orders",
        help_text="Order number, marketplace order id or SKU code.",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Order no., TikTok id or SKU"}),
    )

    def filters(self) -> dict[str, str]:
        """The valid filters, with an empty string for anything missing or invalid."""
        self.is_valid()
        return {name: self.cleaned_data.get(name) or "" for name in self.fields}
