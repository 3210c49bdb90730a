"""``{{ amount|money }}``: show an amount stored in minor units (cents) as money.

Amounts are integers in the smallest unit of ``settings.CURRENCY`` so that no
float ever touches them; this filter is the only place they become decimals.
"""

from decimal import Decimal

from django import template
from django.conf import settings

register = template.Library()

# ISO 4217 currencies without a minor unit: 500 JPY is stored as 500, not 50000.
ZERO_DECIMAL_CURRENCIES = {
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "ISK",
    "JPY",
    "KMF",
    "KRW",
    "PYG",
    "RWF",
    "UGX",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
}
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


@register.filter
def money(minor_units, currency=None):
    """Format ``minor_units`` of ``currency`` (default ``settings.CURRENCY``), e.g. 123456 → "$1,234.56".

    Empty values render as an empty string, so a missing total shows nothing
    rather than "$0.00".
    """
    if minor_units is None or minor_units == "":
        return ""
    code = (currency or settings.CURRENCY).upper()
    places = 0 if code in ZERO_DECIMAL_CURRENCIES else 2
    amount = Decimal(int(minor_units)).scaleb(-places)
    text = f"{abs(amount):,.{places}f}"
    sign = "-" if amount < 0 else ""
    symbol = SYMBOLS.get(code)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {code}"
