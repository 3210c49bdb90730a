"""Stock in the console: the CSV import page, the CSV export, and read-only stock and reservations."""

import csv
import io

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.tests.factories import SellerFactory, make_staff_user
from core.testing import admin_export
from fulfillment.models import SKU, Stock
from fulfillment.services import stock_export_csv
from fulfillment.tests.factories import make_sku
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/fulfillment/stock/import-csv/"
EXPORT_URL = "/admin/fulfillment/sku/export/"
HEADER = "seller,sku,name,wholesale_cost,on_hand\n"


def upload(text: str, *, encoding="utf-8") -> SimpleUploadedFile:
    return SimpleUploadedFile("stock.csv", text.encode(encoding), content_type="text/csv")


@pytest.fixture
def warehouse(client):
    user = make_staff_user("Warehouse")
    client.force_login(user)
    return user


# --- import ----------------------------------------------------------------------------


def test_import_page_creates_and_updates_stock(client, warehouse, seller, sku):
    assert client.get(IMPORT_URL).status_code == 200

    response = client.post(
        IMPORT_URL, {"file": upload(HEADER + "ACME,TSHIRT-M,T-shirt M,12.50,25\nACME,MUG,Mug,4.00,8\n")}
    )

    assert response.status_code == 302
    assert response.url == reverse("admin:fulfillment_stock_changelist")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Stock imported: 1 SKU(s) created, 1 updated, 0 unchanged."
    ]
    assert Stock.objects.get(sku=sku).on_hand == 25
    mug = SKU.objects.select_related("stock").get(seller=seller, code="MUG")
    assert (mug.wholesale_cost, mug.stock.on_hand) == (400, 8)


def test_import_page_lists_every_bad_row_and_writes_nothing(client, warehouse, seller, sku):
    response = client.post(
        IMPORT_URL,
        {
            "file": upload(
                HEADER
                + "ACME,MUG,Mug,4.00,8\n"
                + "ACME,TSHIRT-M,,12.50,25\n"
                + "GHOST,CAP,Cap,1.00,1\n"
                + "ACME,HAT,Hat,free,1\n"
            )
        },
    )

    assert response.status_code == 200
    assert [e.split(":")[0] for e in response.context["import_errors"]] == ["line 3", "line 4", "line 5"]
    page = response.content.decode()
    assert "Nothing was imported" in page
    assert "line 4: unknown seller &#x27;GHOST&#x27;" in page
    assert not SKU.objects.filter(code__in=["MUG", "CAP", "HAT"]).exists()
    assert Stock.objects.get(sku=sku).on_hand == 10


def test_import_page_refuses_a_file_that_is_not_utf8(client, warehouse, seller):
    response = client.post(IMPORT_URL, {"file": upload(HEADER + "ACME,MUG,Crème,4.00,8\n", encoding="latin-1")})

    assert response.status_code == 200
    assert "not UTF-8" in response.context["import_errors"][0]
    assert not SKU.objects.exists()


def test_import_page_requires_the_change_stock_permission(client, seller):
    client.force_login(make_staff_user("Support"))

    assert client.get(IMPORT_URL).status_code == 403
    assert client.post(IMPORT_URL, {"file": upload(HEADER + "ACME,MUG,Mug,4.00,8\n")}).status_code == 403
    assert not SKU.objects.exists()
    assert IMPORT_URL not in client.get("/admin/fulfillment/stock/").content.decode()


# --- export ----------------------------------------------------------------------------


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_export_returns_every_sku_in_the_import_format(client, warehouse, seller, sku):
    other = SellerFactory(code="OTHER")
    make_sku(seller=other, code="CAP", on_hand=0, wholesale_cost=5)

    response = admin_export(client, EXPORT_URL)

    assert response.content.decode() == stock_export_csv()
    rows = rows_of(response)
    assert rows[0] == ["seller", "sku", "name", "wholesale_cost", "on_hand"]
    assert rows[1:] == [
        ["ACME", "TSHIRT-M", sku.name, "12.50", "10"],
        ["OTHER", "CAP", SKU.objects.get(code="CAP").name, "0.05", "0"],
    ]


def test_export_follows_the_list_filters_and_search(client, warehouse, seller, sku):
    other = SellerFactory(code="OTHER")
    make_sku(seller=other, code="CAP")
    make_sku(seller=seller, code="MUG")

    by_seller = rows_of(admin_export(client, EXPORT_URL, filters={"seller__id__exact": other.pk}))
    searched = rows_of(admin_export(client, EXPORT_URL, filters={"q": "MUG"}))

    assert [row[:2] for row in by_seller[1:]] == [["OTHER", "CAP"]]
    assert [row[:2] for row in searched[1:]] == [["ACME", "MUG"]]


def test_export_as_xlsx_is_formula_safe_and_imports_back(client, warehouse, seller, sku):
    import openpyxl

    SKU.objects.filter(pk=sku.pk).update(name='=HYPERLINK("http://evil.example")')

    response = admin_export(client, EXPORT_URL, file_format="xlsx")

    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[1][:3] == ["ACME", "TSHIRT-M", '\'=HYPERLINK("http://evil.example")']
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    imported = client.post(IMPORT_URL, {"file": SimpleUploadedFile("stock.xlsx", response.content)})
    assert imported.status_code == 302
    assert SKU.objects.get(pk=sku.pk).name == '=HYPERLINK("http://evil.example")'


# --- read-only stock and reservations ------------------------------------------------------


def test_stock_cannot_be_edited_in_a_form_even_with_change_stock(client, warehouse, sku):
    stock = sku.stock
    change_url = reverse("admin:fulfillment_stock_change", args=[stock.pk])

    page = client.get(change_url)
    response = client.post(change_url, {"on_hand": "999", "reserved": "0"})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert response.status_code == 403
    stock.refresh_from_db()
    assert stock.on_hand == 10
    assert IMPORT_URL in client.get("/admin/fulfillment/stock/").content.decode()


def test_sku_page_shows_its_stock(client, warehouse, partner, seller, sku):
    make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 4)])

    response = client.get(reverse("admin:fulfillment_sku_change", args=[sku.pk]))

    assert response.status_code == 200
    inline = response.context["inline_admin_formsets"][0]
    stock = inline.formset.queryset.get()
    assert (stock.on_hand, stock.reserved, stock.available) == (10, 4, 6)


def test_reservations_are_listed_read_only(client, partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 2)])
    client.force_login(make_staff_user(superuser=True))

    active = client.get("/admin/fulfillment/reservation/", {"state": "active"})
    released = client.get("/admin/fulfillment/reservation/", {"state": "released"})

    assert [r.line.order_id for r in active.context["cl"].result_list] == [order.pk]
    assert list(released.context["cl"].result_list) == []
    reservation = active.context["cl"].result_list[0]
    assert client.post(reverse("admin:fulfillment_reservation_change", args=[reservation.pk]), {}).status_code == 403
