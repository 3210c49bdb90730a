"""The provisioning commands: create_seller, create_partner, import_stock, process_timers."""

import io
from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.utils import timezone

from accounts.authentication import ApiKeyAuthentication
from accounts.models import Partner, PartnerApiKey, Seller
from accounts.tests.factories import SellerFactory
from fulfillment.models import SKU, Stock
from fulfillment.tests.factories import make_sku
from orders.models import OrderStatus
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- create_seller -------------------------------------------------------------------------


def test_create_seller():
    out, _ = run("create_seller", "ACME-2", "--name", "Acme Two", "--email", "ops@acme.example")

    seller = Seller.objects.get(code="ACME-2")
    assert (seller.name, seller.email, seller.auto_checkout) == ("Acme Two", "ops@acme.example", False)
    assert "ACME-2" in out


def test_create_seller_refuses_a_duplicate_code():
    SellerFactory(code="ACME")

    with pytest.raises(CommandError, match="already exists"):
        run("create_seller", "ACME", "--name", "Other", "--email", "x@example.com")
    assert Seller.objects.filter(code="ACME").count() == 1


@pytest.mark.parametrize(
    ("code", "email", "message"),
    [
        ("ACME", "not-an-email", "not a valid email"),
        ("has space", "a@example.com", "Seller code"),
        ("_leading-underscore", "a@example.com", "Seller code"),
        ("X" * 33, "a@example.com", "Seller code"),
    ],
)
def test_create_seller_refuses_bad_input(code, email, message):
    with pytest.raises(CommandError, match=message):
        run("create_seller", code, "--name", "Someone", "--email", email)
    assert not Seller.objects.exists()


# --- create_partner ------------------------------------------------------------------------


def _authenticate(raw_key):
    request = RequestFactory().get("/api/v1/orders/", HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    return ApiKeyAuthentication().authenticate(request)


def test_create_partner_prints_the_key_once_and_stores_only_its_digest():
    SellerFactory(code="ACME")
    SellerFactory(code="BETA")

    out, _ = run("create_partner", "Connector A", "--seller", "ACME", "--seller", "BETA")

    partner = Partner.objects.get(name="Connector A")
    assert sorted(partner.sellers.values_list("code", flat=True)) == ["ACME", "BETA"]
    key_lines = [line for line in out.splitlines() if line.startswith("API key: ")]
    assert len(key_lines) == 1
    raw_key = key_lines[0].removeprefix("API key: ")
    assert out.count(raw_key) == 1
    stored = PartnerApiKey.objects.get(partner=partner)
    assert stored.digest == PartnerApiKey.digest_for(raw_key)
    assert raw_key not in (stored.digest, stored.prefix, stored.label)
    assert raw_key.startswith(stored.prefix + ".")
    authenticated_partner, _ = _authenticate(raw_key)
    assert authenticated_partner == partner


def test_create_partner_with_an_unknown_seller_writes_nothing():
    SellerFactory(code="ACME")

    with pytest.raises(CommandError, match="NOPE"):
        run("create_partner", "Connector A", "--seller", "ACME", "--seller", "NOPE")
    assert not Partner.objects.exists()
    assert not PartnerApiKey.objects.exists()


def test_create_partner_refuses_a_name_taken_in_another_case():
    SellerFactory(code="ACME")
    run("create_partner", "Connector A", "--seller", "ACME")

    with pytest.raises(CommandError, match="already exists"):
        run("create_partner", "connector a", "--seller", "ACME")
    assert Partner.objects.count() == 1
    assert PartnerApiKey.objects.count() == 1


# --- import_stock --------------------------------------------------------------------------


def _write(tmp_path, text, *, encoding="utf-8"):
    path = tmp_path / "stock.csv"
    path.write_text(text, encoding=encoding)
    return str(path)


def test_import_stock_creates_and_updates(tmp_path):
    acme = SellerFactory(code="ACME")
    make_sku(seller=acme, code="MUG", on_hand=3, wholesale_cost=500)
    path = _write(
        tmp_path,
        "seller,sku,name,wholesale_cost,on_hand\nACME,MUG,Big mug,6.25,40\nACME,TEE,T-shirt,12.50,7\n",
    )

    out, _ = run("import_stock", path)

    assert "1 SKU(s) created, 1 updated" in out
    mug = SKU.objects.select_related("stock").get(seller=acme, code="MUG")
    assert (mug.name, mug.wholesale_cost, mug.stock.on_hand) == ("Big mug", 625, 40)
    tee = SKU.objects.select_related("stock").get(seller=acme, code="TEE")
    assert (tee.wholesale_cost, tee.stock.on_hand, tee.stock.reserved) == (1250, 7, 0)


def test_import_stock_accepts_a_spreadsheet_byte_order_mark(tmp_path):
    SellerFactory(code="ACME")
    path = _write(tmp_path, "seller,sku,name,wholesale_cost,on_hand\nACME,MUG,Mug,1.00,2\n", encoding="utf-8-sig")

    run("import_stock", path)

    assert Stock.objects.get(sku__code="MUG").on_hand == 2


def test_import_stock_with_bad_rows_reports_their_lines_and_writes_nothing(tmp_path):
    acme = SellerFactory(code="ACME")
    make_sku(seller=acme, code="MUG", on_hand=3, wholesale_cost=500)
    path = _write(
        tmp_path,
        "seller,sku,name,wholesale_cost,on_hand\n"
        "ACME,MUG,Mug,5.00,99\n"  # line 2: fine on its own
        "NOPE,TEE,T-shirt,12.50,7\n"  # line 3: unknown seller
        "ACME,CAP,Cap,12.505,1\n"  # line 4: fraction of a cent
        "ACME,HAT,Hat,3.00,-1\n"  # line 5: negative stock
        "ACME,MUG,Mug again,5.00,1\n",  # line 6: duplicate of line 2
    )

    err = io.StringIO()
    with pytest.raises(CommandError, match="4 problem"):
        call_command("import_stock", path, stdout=io.StringIO(), stderr=err)

    errors = err.getvalue().splitlines()
    assert [e.split(":")[0] for e in errors] == ["line 3", "line 4", "line 5", "line 6"]
    assert "unknown seller 'NOPE'" in errors[0]
    assert "wholesale_cost '12.505'" in errors[1]
    assert "on_hand '-1'" in errors[2]
    assert "duplicate of line 2" in errors[3]
    assert list(SKU.objects.values_list("code", flat=True)) == ["MUG"]
    assert Stock.objects.get(sku__code="MUG").on_hand == 3


def test_import_stock_refuses_on_hand_below_reserved(tmp_path, partner, seller, sku):
    make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 4)])
    path = _write(
        tmp_path,
        "seller,sku,name,wholesale_cost,on_hand\nACME,NEW,New thing,1.00,5\nACME,TSHIRT-M,T-shirt,12.50,3\n",
    )

    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_stock", path, stdout=io.StringIO(), stderr=err)

    assert "line 3: on_hand 3 is below the 4 units reserved" in err.getvalue()
    assert not SKU.objects.filter(code="NEW").exists()
    assert Stock.objects.get(sku=sku).on_hand == 10


def test_import_stock_missing_file(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run("import_stock", str(tmp_path / "nope.csv"))


def test_import_stock_refuses_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "stock.csv"
    path.write_bytes("seller,sku,name,wholesale_cost,on_hand\nACME,MUG,Crème,1.00,2\n".encode("latin-1"))

    with pytest.raises(CommandError, match="not UTF-8"):
        run("import_stock", str(path))


# --- process_timers ------------------------------------------------------------------------


def test_process_timers_runs_one_pass_and_prints_the_counts(partner, seller, sku):
    unpaid = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 2)])
    paid = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], paid_at=timezone.now())

    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        out, _ = run("process_timers")

    assert "unpaid_cancelled: 1" in out
    assert "holds_ended: 1" in out
    unpaid.refresh_from_db()
    paid.refresh_from_db()
    assert unpaid.status == OrderStatus.CANCELLED
    assert paid.status == OrderStatus.AWAITING_CHECKOUT
    sku.stock.refresh_from_db()
    assert sku.stock.reserved == 1


def test_process_timers_with_nothing_due(partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 2)])

    out, _ = run("process_timers")

    assert "unpaid_cancelled: 0" in out
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT


def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file
