"""Seed the common US carriers. Staff keep the list from then on: existing rows are never overwritten."""

from django.db import migrations

CARRIERS = [
    {
        "code": "usps",
        "name": "USPS",
        # IMpb (22 or 26 digits, optionally after the 420+ZIP routing prefix) and international S10 numbers.
        "tracking_pattern": r"^(?:(?:420\d{5}(?:\d{4})?)?9[1-5]\d{20}(?:\d{4})?|[A-Z]{2}\d{9}US)$",
        "tracking_url": "https://tools.usps.com/go/TrackConfirmAction?tLabels={tracking_number}",
        "handover": "both",
    },
    {
        "code": "ups",
        "name": "UPS",
        "tracking_pattern": r"^1Z[0-9A-Z]{16}$",
        "tracking_url": "https://www.ups.com/track?tracknum={tracking_number}",
        "handover": "both",
    },
    {
        "code": "fedex",
        "name": "FedEx",
        "tracking_pattern": r"^(?:\d{12}|\d{15}|\d{20}|\d{22})$",
        "tracking_url": "https://www.fedex.com/fedextrack/?trknbr={tracking_number}",
        "handover": "both",
    },
    {
        "code": "dhl",
        "name": "DHL Express",
        "tracking_pattern": r"^(?:\d{10}|JJD\d{18,20})$",
        "tracking_url": "https://www.dhl.com/us-en/home/tracking/tracking-express.html?tracking-id={tracking_number}",
        "handover": "both",
    },
    {
        "code": "ontrac",
        "name": "OnTrac",
        # A regional carrier without retail counters: it collects from us.
        "tracking_pattern": r"^[CD]\d{14}$",
        "tracking_url": "https://www.ontrac.com/tracking/?number={tracking_number}",
        "handover": "pickup",
    },
]


def seed(apps, schema_editor):
    Carrier = apps.get_model("fulfillment", "Carrier")
    for carrier in CARRIERS:
        Carrier.objects.get_or_create(code=carrier["code"], defaults=carrier)


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0003_carriers_shipments")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
