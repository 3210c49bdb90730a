"""Exports to CSV and XLSX through django-import-export, every cell formula-safe (``core.csv.safe_cell``).

Each app describes its rows with a ``SafeResource``; the admin offers them
with the list's current filters (``EXPORT_FORMATS``), and the portal answers
a download with ``download_response``.
"""

from __future__ import annotations

import tablib
from django.http import HttpResponse
from django.utils import timezone
from import_export import resources
from import_export.formats.base_formats import CSV, XLSX

from core.csv import safe_cell

# What staff can export a list as, in the admin.
EXPORT_FORMATS = [CSV, XLSX]


class SafeResource(resources.ModelResource):
    """A resource whose exported text cells can never run as a spreadsheet formula."""

    def export_field(self, field, instance, **kwargs):
        return safe_cell(super().export_field(field, instance, **kwargs))


def download_response(dataset, *, name: str, file_format=CSV) -> HttpResponse:
    """``dataset`` as a file download called ``<name>-<local date and time>.<extension>``."""
    fmt = file_format()
    response = HttpResponse(fmt.export_data(dataset), content_type=fmt.get_content_type())
    stamp = f"{timezone.localtime():%Y%m%d-%H%M}"
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.{fmt.get_extension()}"'
    return response


def safe_dataset(headers: list[str], rows) -> tablib.Dataset:
    """A dataset of ``rows`` (sequences) whose text cells are formula-safe, for exports built by hand."""
    return tablib.Dataset(*[[safe_cell(value) for value in row] for row in rows], headers=headers)
