"""Forms for the portal's checkout and card pages.

They only check the shape of what the browser sent and that every id in it
belongs to the seller; what may be charged, and for how much, is decided by
``payments.selectors`` and ``payments.services``, never by the browser.
"""

from __future__ import annotations

import re

from django import forms

from accounts.models import Seller
from orders.models import Order
from payments.selectors import Card
from payments.services.charges import MAX_ORDERS_PER_CHECKOUT

# Order ids are 64-bit integers; a longer run of digits would overflow the database integer.
_MAX_ORDER_ID_DIGITS = 18
NEW_CARD = "new"
_SETUP_INTENT_RE = re.compile(r"^seti_[A-Za-z0-9_]{1,250}$")


def parse_order_ids(values: list[str]) -> tuple[list[int], list[str]]:
    """The distinct order ids in ``values`` in their order, and the values that are not order ids."""
    ids, bad = [], []
    for value in values:
        text = str(value).strip().removeprefix("#")
        if text.isdigit() and len(text) <= _MAX_ORDER_ID_DIGITS and int(text) > 0:
            ids.append(int(text))
        else:
            text = str(value)
            bad.append(text if len(text) <= 20 else f"{text[:20]}…")
    return list(dict.fromkeys(ids)), bad


class OrderIdsField(forms.Field):
    """Several order ids (repeated ``order`` parameters), each a positive whole number."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "required": "Select at least one order to pay.",
        "invalid": "These are not order numbers: %(values)s.",
        "too_many": f"Pay at most {MAX_ORDERS_PER_CHECKOUT} orders at once.",
    }

    def to_python(self, value):
        if not value:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        ids, bad = parse_order_ids(values)
        if bad:
            raise forms.ValidationError(
                self.error_messages["invalid"], code="invalid", params={"values": ", ".join(bad)}
            )
        return ids

    def validate(self, value):
        super().validate(value)
        if len(value) > MAX_ORDERS_PER_CHECKOUT:
            raise forms.ValidationError(self.error_messages["too_many"], code="too_many")


class CheckoutForm(forms.Form):
    """The Unpaid page's "Pay" form: which orders, which card, and the total the seller was shown.

    ``expected_total`` is the server's quote the page displayed (kept up to date by
    its script); the view charges only if the total computed now is the same, so
    the seller is never charged an amount they did not see.
    """

    order = OrderIdsField()
    card = forms.ChoiceField(
        label="Pay with",
        error_messages={
            "required": "Choose a card to pay with.",
            "invalid_choice": "That card is not on file. Choose one of your cards.",
        },
    )
    setup_intent = forms.CharField(required=False, max_length=255)
    make_default = forms.BooleanField(required=False, label="Make this my default card")
    expected_total = forms.IntegerField(required=False, min_value=0)
    # The seller's explicit "yes" to paying orders whose buyer asked to cancel (R5); without it they are skipped.
    pay_despite_cancellation = forms.BooleanField(required=False)

    def __init__(self, *args, seller: Seller, cards: list[Card], **kwargs):
        super().__init__(*args, **kwargs)
        self.seller = seller
        self.fields["card"].choices = [(card.id, card.label) for card in cards] + [(NEW_CARD, "A new card")]

    def clean_order(self):
        ids = self.cleaned_data["order"]
        mine = set(Order.objects.filter(seller=self.seller, pk__in=ids).values_list("pk", flat=True))
        foreign = [pk for pk in ids if pk not in mine]
        if foreign:
            # Never act on an order that is not the seller's: refuse the whole request.
            listed = ", ".join(f"#{pk}" for pk in foreign[:10]) + ("…" if len(foreign) > 10 else "")
            raise forms.ValidationError(
                f"Nothing was charged: {listed} "
                f"{'is not one of your orders' if len(foreign) == 1 else 'are not your orders'}.",
                code="not_yours",
            )
        return ids

    def clean_setup_intent(self):
        value = self.cleaned_data["setup_intent"].strip()
        if value and not _SETUP_INTENT_RE.match(value):
            raise forms.ValidationError(
                "The card form sent something unexpected. Enter the card again.", code="invalid"
            )
        return value

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("card") == NEW_CARD and not cleaned.get("setup_intent"):
            self.add_error("card", forms.ValidationError("Enter the new card's details first.", code="card_missing"))
        return cleaned


class CardAddForm(forms.Form):
    """The Payment page's card form: Stripe.js confirmed a SetupIntent in the browser; we get its id."""

    setup_intent = forms.CharField(max_length=255, error_messages={"required": "Enter the card's details first."})
    make_default = forms.BooleanField(required=False, label="Make this my default card")

    def clean_setup_intent(self):
        value = self.cleaned_data["setup_intent"].strip()
        if not _SETUP_INTENT_RE.match(value):
            raise forms.ValidationError(
                "The card form sent something unexpected. Enter the card again.", code="invalid"
            )
        return value


class AutoCheckoutForm(forms.Form):
    enabled = forms.TypedChoiceField(
        choices=[("on", "On"), ("off", "Off")],
        coerce=lambda value: value == "on",
        error_messages={"required": "Choose on or off.", "invalid_choice": "Choose on or off."},
    )


def form_error_text(form: forms.Form) -> list[str]:
    """Every error of ``form`` as a sentence for the page's alert, without field names."""
    return [str(error) for errors in form.errors.values() for error in errors]
