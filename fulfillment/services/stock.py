"""Stock writes: reserving for order lines, releasing, topping up, consuming at labelling, and
importing stock from CSV."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import tablib
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone
from import_export.formats.base_formats import XLSX

from core.actors import Actor
from core.errors import InvalidInput
from core.tasks import enqueue_on_commit
from fulfillment.locks import lock_stock_for_skus
from fulfillment.models import SKU, Reservation, Stock
from fulfillment.resources import STOCK_COLUMNS, StockResource
from fulfillment.services.exceptions import stock_allocate_locked, waiting_order_ids
from orders.locks import lock_orders
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
    # Orders waiting for these SKUs get the units, in a pass of their own after commit (it locks orders first).
    enqueue_on_commit("fulfillment.tasks.stock_allocate", sorted(wanted))
    return sum(wanted.values())


# --- the stock file: import and export (django-import-export, ``fulfillment.resources``) --------------

STOCK_CSV_COLUMNS = STOCK_COLUMNS
# An upload above this is not a stock list someone edited by hand; refuse it before reading it.
MAX_IMPORT_BYTES = 5 * 1024 * 1024


@dataclass
class ImportResult:
    created: int
    updated: int
    unchanged: int = 0
    # Orders waiting for stock that the new stock filled (their stock exception cleared).
    orders_cleared: int = 0


class StockImportError(InvalidInput):
    """Raised with every bad row; nothing has been written."""

    code = "invalid_csv"

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


def _read_csv(text: str) -> tuple[tablib.Dataset, list[int]]:
    """The CSV's rows as a dataset, with the line each row ends on (a quoted value may span lines)."""
    # A byte-order mark (spreadsheet exports) would otherwise be glued to the first column name.
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    try:
        header = [h.strip() for h in next(reader, [])]
        rows, lines = [], []
        for raw in reader:
            if not any(cell.strip() for cell in raw):
                continue
            rows.append((raw + [""] * len(header))[: len(header)])
            lines.append(reader.line_num)
    except csv.Error as exc:
        # Not CSV at all (NUL bytes, an unterminated quote, a giant field): name the line it broke on.
        raise StockImportError([f"line {reader.line_num}: not readable as CSV ({exc})"]) from None
    return tablib.Dataset(*rows, headers=header), lines


def _read_xlsx(data: bytes) -> tuple[tablib.Dataset, list[int]]:
    try:
        dataset = XLSX().create_dataset(data)
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds of error for a file that is not a workbook
        raise StockImportError(["the file is not an Excel workbook (.xlsx)"]) from None
    dataset.headers = [str(h or "").strip() for h in dataset.headers or []]
    kept = tablib.Dataset(headers=dataset.headers)
    lines = []
    for number, row in enumerate(dataset, start=2):
        if any(cell not in (None, "") for cell in row):
            kept.append(row)
            lines.append(number)
    return kept, lines


def stock_import(*, dataset: tablib.Dataset, line_numbers: list[int], actor: Actor) -> ImportResult:
    """Create or update SKUs and their on-hand stock from a stock file's rows; all rows or none.

    Columns: seller,sku,name,wholesale_cost,on_hand. ``on_hand`` replaces the
    count; a row that would put it below what is reserved is refused. Rows
    that change nothing are counted as unchanged and not written. Then, in the
    same transaction, the stock goes to the orders waiting for it, oldest first
    (``stock_allocate_locked``): the waiting orders are locked before the stock
    rows, the lock order of every stock write.
    """
    missing = [c for c in STOCK_COLUMNS if c not in (dataset.headers or [])]
    if missing:
        raise StockImportError([f"line 1: missing column(s) {', '.join(missing)}; expected {','.join(STOCK_COLUMNS)}"])
    if not len(dataset):
        raise StockImportError(["the file has no data rows"])
    resource = StockResource(line_numbers=line_numbers)
    codes = {
        (str(seller).strip(), str(sku).strip()) for seller, sku in zip(dataset["seller"], dataset["sku"], strict=True)
    }
    try:
        with transaction.atomic():
            sku_ids = [
                pk
                for pk, seller_code, code in SKU.objects.filter(code__in={c for _, c in codes}).values_list(
                    "pk", "seller__code", "code"
                )
                if (seller_code, code) in codes
            ]
            waiting = lock_orders(waiting_order_ids(sku_ids))
            result = resource.import_data(dataset, dry_run=False, raise_errors=False, use_transactions=False)
            errors = resource.row_messages(result)
            if errors:
                raise StockImportError(errors)
            cleared = stock_allocate_locked(orders=waiting, sku_ids=sku_ids, actor=actor)
    except IntegrityError:
        # Another import created one of these SKUs between our read and our insert.
        raise StockImportError(["another stock change ran at the same time; nothing was imported, try again"]) from None
    counts = resource.counts
    logger.info(
        "stock import by %s: %d created, %d updated, %d unchanged, %d waiting orders filled",
        actor,
        counts["created"],
        counts["updated"],
        counts["unchanged"],
        len(cleared),
    )
    return ImportResult(
        created=counts["created"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        orders_cleared=len(cleared),
    )


def stock_import_csv(*, text: str, actor: Actor) -> ImportResult:
    """``stock_import`` of a UTF-8 CSV text (``manage.py import_stock``, the demo data)."""
    dataset, lines = _read_csv(text)
    return stock_import(dataset=dataset, line_numbers=lines, actor=actor)


def stock_import_file(*, data: bytes, filename: str, actor: Actor) -> ImportResult:
    """``stock_import`` of an uploaded file: an Excel workbook (``.xlsx``) or UTF-8 CSV."""
    if len(data) > MAX_IMPORT_BYTES:
        raise StockImportError([f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB"])
    if filename.lower().endswith(".xlsx"):
        dataset, lines = _read_xlsx(data)
        return stock_import(dataset=dataset, line_numbers=lines, actor=actor)
    try:
        # utf-8-sig drops the byte-order mark spreadsheet programs write.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise StockImportError(["the file is not UTF-8 text; save it as “CSV UTF-8”"]) from None
    return stock_import_csv(text=text, actor=actor)


def stock_export(*, queryset=None) -> tablib.Dataset:
    """SKUs and stock in the import format, so an export can be edited and imported again."""
    skus = queryset if queryset is not None else SKU.objects.all()
    return StockResource().export(skus.select_related("seller", "stock").order_by("seller__code", "code"))


def stock_export_csv(*, queryset=None) -> str:
    return stock_export(queryset=queryset).csv
