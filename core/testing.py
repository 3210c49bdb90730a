"""Helpers for the test suites of every app (imported by tests only, never by application code)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

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


def process_start(argv: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start a server or task cluster for a test, in a process group of its own, its output in ``log``."""
    return subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def process_stop(proc: subprocess.Popen, *, grace: float = 10) -> None:
    """Stop what ``process_start`` started, children included: Ctrl-C, then after ``grace`` seconds, SIGKILL."""
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
