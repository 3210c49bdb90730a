"""Staff export the admin's lists as CSV or XLSX, with the list's filters, every text cell formula-safe."""

import csv
import io

import openpyxl
import pytest

from accounts.tests.factories import make_staff_user
from core.actors import Actor
from core.testing import admin_export
from orders.models import Order
from orders.services import order_cancel
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db


def test_an_order_export_with_filters_matches_the_filtered_list(client, partner, seller, sku):
    kept = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], external_id="=cmd|' /C calc'!A0")
    cancelled = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], external_id="TT-2")
    order_cancel(order_id=cancelled.pk, by="buyer", reason="+changed their mind", actor=Actor.for_partner(partner))
    client.force_login(make_staff_user("Support"))
    filters = {"status__exact": "pending_payment"}

    listed = client.get("/admin/orders/order/", filters).context["cl"].queryset
    response = admin_export(client, "/admin/orders/order/export/", filters=filters)

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [int(row["order"]) for row in rows] == [o.pk for o in listed] == [kept.pk]
    assert rows[0]["status"] == "Pending payment"
    assert rows[0]["marketplace order"] == "'=cmd|' /C calc'!A0"  # a spreadsheet shows it as text, never runs it
    everything = admin_export(client, "/admin/orders/order/export/", file_format="xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(everything.content)).active
    values = [cell.value for row in sheet.iter_rows() for cell in row if isinstance(cell.value, str)]
    assert all(not value.startswith(("=", "+", "-", "@")) for value in values)
    assert sheet.max_row == Order.objects.count() + 1
    assert any("by buyer: +changed their mind" in value for value in values)
