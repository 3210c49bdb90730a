"""The stock file (CSV or XLSX) as a django-import-export resource: one row per SKU, with its stock.

Columns: ``seller,sku,name,wholesale_cost,on_hand`` (see the README). The same
resource exports (the admin, ``stock_export_csv``) and imports
(``fulfillment.services.stock.stock_import``), so an export can be edited and
imported again. Importing checks every row before anything is kept: each bad
row is reported with its line number, and one bad row means nothing is written.

Rows are written inside the import service's transaction, after it locked the
orders waiting for stock and then the stock rows of the file's SKUs (the lock
order of every stock write); ``on_hand`` may not go below what is reserved.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils import timezone
from import_export import fields, widgets

from accounts.models import Seller
from core.csv import read_cell
from core.exports import SafeResource
from fulfillment.locks import lock_stock_for_skus
from fulfillment.models import SKU, Stock

STOCK_COLUMNS = ["seller", "sku", "name", "wholesale_cost", "on_hand"]
# The largest value a PositiveIntegerField holds on every database we run on;
# anything above would fail at write time instead of being reported by line.
MAX_INTEGER = 2_147_483_647
# NUL and other control characters: PostgreSQL refuses NUL in text, and none belongs in a name or code.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def parse_money(value: str) -> int:
    """``"12.50"`` → 1250 minor units; refuses negatives, fractions of a cent, NaN and infinities."""
    amount = Decimal(str(value).strip())
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise InvalidOperation
    cents = int(amount * 100)
    if cents > MAX_INTEGER:
        raise InvalidOperation
    return cents


def _text(value) -> str:
    """A cell as text: spreadsheets give numbers for numeric-looking cells, and our exports' apostrophes go."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(read_cell(value)).strip()


class StockResource(SafeResource):
    seller = fields.Field(attribute="seller", column_name="seller", widget=widgets.ForeignKeyWidget(Seller, "code"))
    sku = fields.Field(attribute="code", column_name="sku")
    name = fields.Field(attribute="name", column_name="name")
    wholesale_cost = fields.Field(
        attribute="wholesale_cost", column_name="wholesale_cost", widget=widgets.IntegerWidget()
    )
    on_hand = fields.Field(column_name="on_hand")

    class Meta:
        model = SKU
        fields = STOCK_COLUMNS
        export_order = STOCK_COLUMNS
        import_id_fields = ["seller", "sku"]
        skip_diff = True

    def __init__(self, *, line_numbers: list[int] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.line_numbers = line_numbers or []
        self.seen: dict[tuple[str, str], int] = {}
        self.stocks: dict[int, Stock] = {}
        self.existing: dict[tuple[str, str], SKU] = {}
        self.sellers: dict[str, Seller] = {}
        self.counts = {"created": 0, "updated": 0, "unchanged": 0}

    def get_queryset(self):
        return SKU.objects.select_related("seller", "stock").order_by("seller__code", "code")

    # --- export ---------------------------------------------------------------------------

    def dehydrate_seller(self, sku: SKU) -> str:
        return sku.seller.code

    def dehydrate_wholesale_cost(self, sku: SKU) -> str:
        return f"{Decimal(sku.wholesale_cost) / 100:.2f}"

    def dehydrate_on_hand(self, sku: SKU) -> int:
        stock = getattr(sku, "stock", None)
        return stock.on_hand if stock else 0

    # --- import ---------------------------------------------------------------------------

    def line(self, row_number: int) -> int:
        """The file's line (or spreadsheet row) of data row ``row_number`` (1 for the first after the header)."""
        if 0 < row_number <= len(self.line_numbers):
            return self.line_numbers[row_number - 1]
        return row_number + 1

    def before_import(self, dataset, **kwargs):
        """Lock the stock rows of the file's known SKUs (the caller locked the waiting orders first)."""
        codes = {_text(value) for value in dataset["seller"]}
        self.sellers = {s.code: s for s in Seller.objects.filter(code__in=codes)}
        skus = SKU.objects.filter(seller__code__in=codes, code__in={_text(v) for v in dataset["sku"]})
        self.existing = {(s.seller.code, s.code): s for s in skus.select_related("seller")}
        self.stocks = lock_stock_for_skus(s.pk for s in self.existing.values())

    def before_import_row(self, row, row_number=None, **kwargs):
        """Check and normalise one row; every problem of the row is reported together."""
        values = {column: _text(row.get(column)) for column in STOCK_COLUMNS}
        problems = [
            f"{column} contains a control character" for column, value in values.items() if _CONTROL.search(value)
        ]
        if values["seller"] not in self.sellers:
            problems.append(f"unknown seller {values['seller']!r}")
        if not values["sku"] or len(values["sku"]) > SKU._meta.get_field("code").max_length:
            problems.append("sku must be 1-64 characters")
        if not values["name"] or len(values["name"]) > SKU._meta.get_field("name").max_length:
            problems.append("name must be 1-200 characters")
        try:
            cost = parse_money(values["wholesale_cost"])
        except (InvalidOperation, ValueError):
            problems.append(f"wholesale_cost {values['wholesale_cost']!r} is not an amount like 12.50")
            cost = None
        try:
            on_hand = int(values["on_hand"])
            if not 0 <= on_hand <= MAX_INTEGER:
                raise ValueError
        except ValueError:
            problems.append(f"on_hand {values['on_hand']!r} is not a whole number ≥ 0")
            on_hand = None
        key = (values["seller"], values["sku"])
        line = self.line(row_number or 0)
        if key in self.seen:
            problems.append(f"duplicate of line {self.seen[key]}")
        self.seen.setdefault(key, line)
        sku = self.existing.get(key)
        stock = self.stocks.get(sku.pk) if sku is not None else None
        if not problems and stock is not None and on_hand < stock.reserved:
            problems.append(f"on_hand {on_hand} is below the {stock.reserved} units reserved")
        if problems:
            raise ValidationError(problems)
        row.update({"seller": values["seller"], "sku": values["sku"], "name": values["name"]})
        row["wholesale_cost"], row["on_hand"] = cost, on_hand

    def skip_row(self, instance, original, row, import_validation_errors=None):
        before = self.existing.get((row["seller"], row["sku"]))
        if import_validation_errors or instance.pk is None or before is None:
            return False
        stock = self.stocks.get(instance.pk)
        unchanged = (
            (before.name, before.wholesale_cost) == (instance.name, instance.wholesale_cost)
            and stock is not None
            and stock.on_hand == row["on_hand"]
        )
        if unchanged:
            self.counts["unchanged"] += 1
        return unchanged

    def save_instance(self, instance, is_create, row, **kwargs):
        """Write the SKU and its stock count; ``on_hand`` replaces the count (checked against reservations)."""
        if is_create:
            instance.save()
            Stock.objects.create(sku=instance, on_hand=row["on_hand"])
            self.counts["created"] += 1
            return
        instance.save(update_fields=["name", "wholesale_cost", "updated_at"])
        stock = self.stocks.get(instance.pk)
        if stock is None:
            Stock.objects.create(sku=instance, on_hand=row["on_hand"])
        elif stock.on_hand != row["on_hand"]:
            Stock.objects.filter(pk=stock.pk).update(on_hand=row["on_hand"], updated_at=timezone.now())
        self.counts["updated"] += 1

    def row_messages(self, result) -> list[str]:
        """Every refused row as ``line N: problem; problem``, in file order."""
        messages = []
        for invalid in result.invalid_rows:
            texts = [str(m) for errors in invalid.error_dict.values() for m in errors]
            messages.append((invalid.number, f"line {self.line(invalid.number)}: " + "; ".join(texts)))
        for number, _errors in result.row_errors():
            messages.append((number, "another stock change ran at the same time; nothing was imported, try again"))
        return [text for _, text in sorted(messages)]
