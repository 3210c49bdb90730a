"""``manage.py import_stock FILE.csv``: create or update SKUs and on-hand stock, all rows or none."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.actors import Actor
from fulfillment.services import STOCK_CSV_COLUMNS, StockImportError, stock_import_csv


class Command(BaseCommand):
    help = (
        f"Import stock from a CSV file with the columns {','.join(STOCK_CSV_COLUMNS)}. Nothing is written if any "
        "row is bad."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="a UTF-8 CSV file (a spreadsheet's byte-order mark is fine)")

    def handle(self, *args, file: Path, **options):
        try:
            # utf-8-sig drops the byte-order mark spreadsheet programs put in front of the header.
            text = file.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise CommandError(f"{file}: no such file.") from None
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
        except OSError as exc:
            raise CommandError(f"{file}: {exc.strerror}.") from None
        try:
            result = stock_import_csv(text=text, actor=Actor.system("import_stock"))
        except StockImportError as exc:
            for error in exc.errors:
                self.stderr.write(error)
            raise CommandError(f"{len(exc.errors)} problem(s) in {file}; nothing was imported.") from None
        self.stdout.write(self.style.SUCCESS(f"{result.created} SKU(s) created, {result.updated} updated."))
