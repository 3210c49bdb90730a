"""Give orders taken before the SLA clocks existed their R8 deadlines, from ``placed_at`` and the current settings."""

from django.conf import settings
from django.db import migrations
from django.db.models import F


def fill(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    Order.objects.filter(ship_by__isnull=True).update(
        ship_by=F("placed_at") + settings.SHIP_BY_WINDOW,
        tracking_due=F("placed_at") + settings.TRACKING_WINDOW,
        deliver_by=F("placed_at") + settings.DELIVERY_WINDOW,
    )


class Migration(migrations.Migration):
    dependencies = [("orders", "0002_fulfilment_and_sla")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
