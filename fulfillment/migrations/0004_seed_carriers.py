"""Seed the common US carriers. Staff keep the list from then on: existing rows are never overwritten."""

from django.db import migrations

from fulfillment.carriers import carriers_seed_defaults


def seed(apps, schema_editor):
    carriers_seed_defaults(apps.get_model("fulfillment", "Carrier"))


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0003_carriers_shipments")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
