"""Money: amounts are stored in minor units (cents) of ``settings.CURRENCY``; ``money`` shows them.

Amounts are integers in the smallest unit of the currency so that no float
ever touches them; ``money`` (also the ``{{ amount|money }}`` template filter)
is the only place they become decimals.
"""

from decimal import Decimal

from django.conf import settings

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
