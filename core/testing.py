"""Helpers for the test suites of every app (imported by tests only, never by application code)."""

from __future__ import annotations

import threading

from django.db import connection


def run_in_threads(count, target):
    """Start ``count`` threads on a barrier so they really collide; return results and errors."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def worker(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, errors


def admin_export(client, url: str, *, filters: dict | None = None, file_format: str = "csv"):
    """Export an admin list as staff do: open the export page with the list's query string, keep every
    column ticked, choose the format ("csv" or "xlsx"), and submit. Returns the download's response."""
    from urllib.parse import urlencode  # noqa: PLC0415 - only the tests that export need it

    target = f"{url}?{urlencode(filters)}" if filters else url
    page = client.get(target)
    assert page.status_code == 200, page.status_code
    form = page.context["form"]
    choices = {label.lower(): value for value, label in form.fields["format"].choices if value != ""}
    data = {"format": choices[file_format], "resource": "0"}
    data.update({name: "on" for name, field in form.fields.items() if getattr(field, "is_selectable_field", False)})
    return client.post(target, data)
