"""Stock writes: reserving for order lines, releasing, topping up, consuming at labelling, and
importing stock from CSV."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from accounts.models import Seller
from core.actors import Actor
from core.errors import InvalidInput
from fulfillment.locks import lock_stock_for_skus
from fulfillment.models import SKU, Reservation, Stock
from orders.models import OrderLine

logger = logging.getLogger(__name__)


def sku_ids_by_code(*, seller_id: int, codes: Iterable[str]) -> dict[str, int]:
    """The seller's SKU ids for those of ``codes`` it stocks; unknown codes are absent."""
    return dict(SKU.objects.filter(seller_id=seller_id, code__in=set(codes)).values_list("code", "pk"))


def stock_reserve_lines(*, lines: Sequence[OrderLine]) -> bool:
    """Reserve what is available for each new order line; return True when every line is fully covered.

    Never fails for missing stock (R1): a line gets what is there, possibly 0,
    and lines without a known SKU get no reservation. The stock rows are locked
    in pk order; all reservations are one INSERT and all stock rows one UPDATE,
    however many lines there are. Precondition: inside ``transaction.atomic()``,
    with the order created or locked by the caller (the order first, then stock).
    """
    stocks = lock_stock_for_skus(line.sku_id for line in lines)
    complete = True
    reservations = []
    taken: dict[int, int] = {}
    for line in lines:
        stock = stocks.get(line.sku_id) if line.sku_id else None
        if stock is None:
            complete = False
            continue
        quantity = max(min(line.quantity, stock.available - taken.get(stock.pk, 0)), 0)
        complete = complete and quantity == line.quantity
        taken[stock.pk] = taken.get(stock.pk, 0) + quantity
        reservations.append(Reservation(line=line, sku_id=line.sku_id, quantity=quantity))
    Reservation.objects.bulk_create(reservations)
    taken = {stock_pk: quantity for stock_pk, quantity in taken.items() if quantity}
    if taken:
        Stock.objects.filter(pk__in=taken).update(
            reserved=F("reserved") + Case(*(When(pk=pk, then=Value(q)) for pk, q in taken.items())),
            updated_at=timezone.now(),
        )
    return complete


def _end_reservations(*, order, ended: str, leaves_shelf: bool) -> int:
    """End every active reservation of ``order``: ``ended`` (``released_at`` or ``consumed_at``) is set
    and ``reserved`` goes down by their units, and ``on_hand`` too when the units leave the shelf.

    Returns the units. Precondition: inside ``transaction.atomic()`` with the order locked.
    """
    active = list(Reservation.objects.filter(line__order=order, released_at=None, consumed_at=None))
    if not active:
        return 0
    stocks = lock_stock_for_skus(r.sku_id for r in active)
    now = timezone.now()
    per_stock: dict[int, int] = {}
    for reservation in active:
        stock = stocks[reservation.sku_id]
        per_stock[stock.pk] = per_stock.get(stock.pk, 0) + reservation.quantity
    Reservation.objects.filter(pk__in=[r.pk for r in active]).update(**{ended: now})
    for stock_pk, quantity in per_stock.items():
        if quantity:
            changes = {"reserved": F("reserved") - quantity, "updated_at": now}
            if leaves_shelf:
                changes["on_hand"] = F("on_hand") - quantity
            Stock.objects.filter(pk=stock_pk).update(**changes)
    return sum(per_stock.values())


def stock_release_for_order(*, order) -> int:
    """Give back every active reservation of ``order`` (R7); return the units released.

    Precondition: inside ``transaction.atomic()`` with the order locked.
    """
    return _end_reservations(order=order, ended="released_at", leaves_shelf=False)


def stock_top_up_for_order(*, order) -> bool:
    """Reserve what an order still lacks from stock that has come in since intake; return True when
    every line is now fully reserved, and keep ``order.stock_exception`` in step.

    Lines with an unknown SKU can never be covered. Precondition: inside
    ``transaction.atomic()`` with the order locked (then stock is locked here).
    """
    lines = list(order.lines.select_related("reservation"))
    short = {}
    complete = True
    for line in lines:
        reservation = getattr(line, "reservation", None)
        if line.sku_id is None or (reservation is not None and not reservation.is_active):
            complete = False
            continue
        have = reservation.quantity if reservation is not None else 0
        if have < line.quantity:
            short[line.pk] = (line, reservation, line.quantity - have)
    if short:
        stocks = lock_stock_for_skus(line.sku_id for line, _, _ in short.values())
        taken: dict[int, int] = {}
        now = timezone.now()
        for line, reservation, missing in short.values():
            stock = stocks.get(line.sku_id)
            if stock is None:
                complete = False
                continue
            extra = max(min(missing, stock.available - taken.get(stock.pk, 0)), 0)
            complete = complete and extra == missing
            if not extra:
                continue
            taken[stock.pk] = taken.get(stock.pk, 0) + extra
            if reservation is None:
                Reservation.objects.create(line=line, sku_id=line.sku_id, quantity=extra)
            else:
                Reservation.objects.filter(pk=reservation.pk).update(quantity=F("quantity") + extra)
        for stock_pk, quantity in taken.items():
            Stock.objects.filter(pk=stock_pk).update(reserved=F("reserved") + quantity, updated_at=now)
    if order.stock_exception == complete:
        order.stock_exception = not complete
        order.save(update_fields=["stock_exception", "updated_at"])
    return complete


def stock_consume_for_order(*, order) -> int:
    """The parcel leaves the warehouse: its reserved units leave ``on_hand`` and ``reserved`` together,
    and its reservations are marked consumed. Return the units shipped.

    Precondition: inside ``transaction.atomic()`` with the order locked, and
    the order fully reserved (the label service checks it first).
    """
    return _end_reservations(order=order, ended="consumed_at", leaves_shelf=True)


def stock_restock(*, quantities: dict[int, int]) -> int:
    """Put returned units back on the shelf (R11): ``on_hand`` grows by ``quantities[sku_id]`` for each
    SKU; return the units restocked. A SKU without a stock row gets one.

    Precondition: inside ``transaction.atomic()`` with the order the units came
    from locked; stock rows are locked here after it, in pk order, like every
    other stock write.
    """
    wanted = {sku_id: quantity for sku_id, quantity in quantities.items() if sku_id is not None and quantity > 0}
    if not wanted:
        return 0
    stocks = lock_stock_for_skus(wanted)
    now = timezone.now()
    for sku_id, quantity in sorted(wanted.items()):
        stock = stocks.get(sku_id)
        if stock is None:
            stock, created = Stock.objects.get_or_create(sku_id=sku_id, defaults={"on_hand": quantity})
            if created:
                continue
        Stock.objects.filter(pk=stock.pk).update(on_hand=F("on_hand") + quantity, updated_at=now)
    return sum(wanted.values())


# --- CSV import -------------------------------------------------------------------

STOCK_CSV_COLUMNS = ["seller", "sku", "name", "wholesale_cost", "on_hand"]
# The largest value a PositiveIntegerField holds on every database we run on;
# anything above would fail at write time instead of being reported by line.
_MAX_INTEGER = 2_147_483_647
# NUL and other control characters: PostgreSQL refuses NUL in text, and none belongs in a name or code.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass
class StockRow:
    line: int
    seller: Seller
    sku: str
    name: str
    wholesale_cost: int
    on_hand: int


@dataclass
class ImportResult:
    created: int
    updated: int
    unchanged: int = 0


class StockImportError(InvalidInput):
    """Raised with every bad row; nothing has been written."""

    code = "invalid_csv"

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


def _parse_money(value: str) -> int:
    """``"12.50"`` → 1250 minor units; refuses negatives, fractions of a cent, NaN and infinities."""
    amount = Decimal(value.strip())
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise InvalidOperation
    cents = int(amount * 100)
    if cents > _MAX_INTEGER:
        raise InvalidOperation
    return cents


def _read_stock_csv(text: str) -> list[tuple[int, dict[str, str]]]:
    """Return ``(line number, values)`` per data row, values stripped and keyed by column."""
    # A byte-order mark (spreadsheet exports) would otherwise be glued to the first column name.
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in STOCK_CSV_COLUMNS if c not in header]
        if missing:
            raise StockImportError(
                [f"line 1: missing column(s) {', '.join(missing)}; expected {','.join(STOCK_CSV_COLUMNS)}"]
            )
        reader.fieldnames = header
        return [(reader.line_num, {k: (raw.get(k) or "").strip() for k in STOCK_CSV_COLUMNS}) for raw in reader]
    except csv.Error as exc:
        # Not CSV at all (NUL bytes, an unterminated quote, a giant field): name the line it broke on.
        # DictReader.line_num is only updated after a good row; the inner reader's counts the line that broke.
        raise StockImportError([f"line {reader.reader.line_num}: not readable as CSV ({exc})"]) from None


def _parse_stock_csv(text: str) -> list[StockRow]:
    raw_rows = _read_stock_csv(text)
    sellers = {s.code: s for s in Seller.objects.filter(code__in={values["seller"] for _, values in raw_rows})}
    rows, errors, seen = [], [], {}
    for line, values in raw_rows:
        problems = [
            f"{column} contains a control character" for column, value in values.items() if _CONTROL.search(value)
        ]
        seller = sellers.get(values["seller"])
        if seller is None:
            problems.append(f"unknown seller {values['seller']!r}")
        if not values["sku"] or len(values["sku"]) > SKU._meta.get_field("code").max_length:
            problems.append("sku must be 1-64 characters")
        if not values["name"] or len(values["name"]) > SKU._meta.get_field("name").max_length:
            problems.append("name must be 1-200 characters")
        try:
            cost = _parse_money(values["wholesale_cost"])
        except (InvalidOperation, ValueError):
            problems.append(f"wholesale_cost {values['wholesale_cost']!r} is not an amount like 12.50")
        try:
            on_hand = int(values["on_hand"])
            if not 0 <= on_hand <= _MAX_INTEGER:
                raise ValueError
        except ValueError:
            problems.append(f"on_hand {values['on_hand']!r} is not a whole number ≥ 0")
        key = (values["seller"], values["sku"])
        if key in seen:
            problems.append(f"duplicate of line {seen[key]}")
        seen.setdefault(key, line)
        if problems:
            errors.append(f"line {line}: " + "; ".join(problems))
            continue
        rows.append(StockRow(line, seller, values["sku"], values["name"], cost, on_hand))
    if errors:
        raise StockImportError(errors)
    if not rows:
        raise StockImportError(["the file has no data rows"])
    return rows


def stock_import_csv(*, text: str, actor: Actor) -> ImportResult:
    """Create or update SKUs and their on-hand stock from CSV; all rows or none.

    Columns: seller,sku,name,wholesale_cost,on_hand. ``on_hand`` replaces the
    count; a row that would put it below what is reserved is refused. Rows
    that change nothing are counted as unchanged and not written.
    """
    rows = _parse_stock_csv(text)
    created = updated = unchanged = 0
    try:
        with transaction.atomic():
            existing = {
                (s.seller_id, s.code): s
                for s in SKU.objects.filter(seller__in={r.seller for r in rows}, code__in={r.sku for r in rows})
            }
            stocks = lock_stock_for_skus(s.pk for s in existing.values())
            errors = []
            for row in rows:
                sku = existing.get((row.seller.pk, row.sku))
                stock = stocks.get(sku.pk) if sku else None
                if stock and row.on_hand < stock.reserved:
                    errors.append(
                        f"line {row.line}: on_hand {row.on_hand} is below the {stock.reserved} units reserved"
                    )
            if errors:
                raise StockImportError(errors)
            now = timezone.now()
            for row in rows:
                sku = existing.get((row.seller.pk, row.sku))
                if sku is None:
                    sku = SKU.objects.create(
                        seller=row.seller, code=row.sku, name=row.name, wholesale_cost=row.wholesale_cost
                    )
                    Stock.objects.create(sku=sku, on_hand=row.on_hand)
                    created += 1
                    continue
                changed = False
                if (sku.name, sku.wholesale_cost) != (row.name, row.wholesale_cost):
                    sku.name, sku.wholesale_cost = row.name, row.wholesale_cost
                    sku.save(update_fields=["name", "wholesale_cost", "updated_at"])
                    changed = True
                stock = stocks.get(sku.pk)
                if stock is None:
                    Stock.objects.create(sku=sku, on_hand=row.on_hand)
                    changed = True
                elif stock.on_hand != row.on_hand:
                    Stock.objects.filter(pk=stock.pk).update(on_hand=row.on_hand, updated_at=now)
                    changed = True
                if changed:
                    updated += 1
                else:
                    unchanged += 1
    except IntegrityError:
        # Another import created one of these SKUs between our read and our insert.
        raise StockImportError(["another stock change ran at the same time; nothing was imported, try again"]) from None
    logger.info("stock import by %s: %d created, %d updated, %d unchanged", actor, created, updated, unchanged)
    return ImportResult(created=created, updated=updated, unchanged=unchanged)


def stock_export_csv(*, queryset=None) -> str:
    """Render SKUs and stock in the import format, so an export can be edited and re-imported."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(STOCK_CSV_COLUMNS)
    skus = (
        (queryset if queryset is not None else SKU.objects.all())
        .select_related("seller", "stock")
        .order_by("seller__code", "code")
    )
    for sku in skus.iterator(chunk_size=2000):
        stock = getattr(sku, "stock", None)
        writer.writerow(
            [
                sku.seller.code,
                sku.code,
                sku.name,
                f"{Decimal(sku.wholesale_cost) / 100:.2f}",
                stock.on_hand if stock else 0,
            ]
        )
    return out.getvalue()
