"""The carriers a new installation starts with (R10). Staff keep the list from then on."""

from __future__ import annotations

DEFAULT_CARRIERS = [
    {
        "code": "usps",
        "name": "USPS",
        "tracking_example": (
            "22 digits starting with 9, such as 9400111899223100012345, or 2 letters, 9 digits and US, "
            "such as EC123456789US"
        ),
        # IMpb (22 or 26 digits, optionally after the 420+ZIP routing prefix) and international S10 numbers.
        "tracking_pattern": r"^(?:(?:420\d{5}(?:\d{4})?)?9[1-5]\d{20}(?:\d{4})?|[A-Z]{2}\d{9}US)$",
        "tracking_url": "https://tools.usps.com/go/TrackConfirmAction?tLabels={tracking_number}",
        "handover": "both",
    },
    {
        "code": "ups",
        "name": "UPS",
        "tracking_example": "1Z followed by 16 letters or digits, such as 1Z999AA10123456784",
        "tracking_pattern": r"^1Z[0-9A-Z]{16}$",
        "tracking_url": "https://www.ups.com/track?tracknum={tracking_number}",
        "handover": "both",
    },
    {
        "code": "fedex",
        "name": "FedEx",
        "tracking_example": "12, 15, 20 or 22 digits, such as 123456789012",
        "tracking_pattern": r"^(?:\d{12}|\d{15}|\d{20}|\d{22})$",
        "tracking_url": "https://www.fedex.com/fedextrack/?trknbr={tracking_number}",
        "handover": "both",
    },
    {
        "code": "dhl",
        "name": "DHL Express",
        "tracking_example": "10 digits, such as 1234567890, or JJD followed by 18 to 20 digits",
        "tracking_pattern": r"^(?:\d{10}|JJD\d{18,20})$",
        "tracking_url": "https://www.dhl.com/us-en/home/tracking/tracking-express.html?tracking-id={tracking_number}",
        "handover": "both",
    },
    {
        "code": "ontrac",
        "name": "OnTrac",
        "tracking_example": "C or D followed by 14 digits, such as C10000000000001",
        # A regional carrier without retail counters: it collects from us.
        "tracking_pattern": r"^[CD]\d{14}$",
        "tracking_url": "https://www.ontrac.com/tracking/?number={tracking_number}",
        "handover": "pickup",
    },
]


def carriers_describe_defaults(carrier_model) -> int:
    """Give the default carriers that have none their tracking number format in words (an older database
    was seeded before the field existed); staff's own descriptions are kept. Returns how many changed."""
    changed = 0
    for carrier in DEFAULT_CARRIERS:
        changed += carrier_model.objects.filter(code=carrier["code"], tracking_example="").update(
            tracking_example=carrier["tracking_example"]
        )
    return changed


def carriers_seed_defaults(carrier_model) -> int:
    """Create the default carriers when there is no carrier at all; returns how many were created.

    A fresh database (after migrate, or after a test flushed it) gets the common US
    carriers. Once any carrier of our own exists the list is the staff's: nothing is
    added back or overwritten. A marketplace's own logistics (``assigns_tracking``),
    which its app creates in a migration, does not count: it is not one of ours.
    """
    if carrier_model.objects.filter(assigns_tracking=False).exists():
        return 0
    carrier_model.objects.bulk_create([carrier_model(**carrier) for carrier in DEFAULT_CARRIERS])
    return len(DEFAULT_CARRIERS)
