"""Cancellation requests after the hold (R5)."""

from __future__ import annotations

from datetime import datetime


def process_due_cancellation_requests(*, now: datetime) -> int:
    """Auto-approve pending requests whose ``respond_by`` has passed; returns how many."""
    return 0
