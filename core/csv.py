"""Cells people open in a spreadsheet: text that a spreadsheet would run as a formula is neutralised.

A cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage
return, which some programs skip before one of those) is read as a formula by
Excel, LibreOffice and Google Sheets, so a buyer's name or a SKU name could
run one on a staff member's machine (CSV injection). ``safe_cell`` puts an
apostrophe in front, which spreadsheets show as text and hide; every CSV and
XLSX we produce goes through it. Numbers are left alone: they are data.
``read_cell`` undoes it, so a file we exported can be imported again as it was;
``csv_writer`` is a ``csv.writer`` whose every cell goes through ``safe_cell``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """``value`` as a spreadsheet must show it: text that would start a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def read_cell(value):
    """The text a ``safe_cell`` wrote, as it was before (other values unchanged)."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


class _SafeWriter:
    def __init__(self, out, **kwargs):
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(out, **kwargs) -> _SafeWriter:
    """``csv.writer(out, **kwargs)`` whose every text cell goes through ``safe_cell``."""
    return _SafeWriter(out, **kwargs)
