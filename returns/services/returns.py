"""Returns (R11)."""

from __future__ import annotations

from datetime import datetime


def process_due_returns(*, now: datetime) -> int:
    """Auto-approve return requests whose ``respond_by`` has passed; returns how many."""
    return 0
