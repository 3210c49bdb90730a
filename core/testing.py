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
