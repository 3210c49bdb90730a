"""Deadlines of the reverse flows, run by ``process_due_timers()``."""

from __future__ import annotations

from datetime import datetime

from returns.services.cancellations import process_due_cancellation_requests
from returns.services.returns import process_due_returns


def process_due_reverse_flows(*, now: datetime) -> dict[str, int]:
    """Auto-approve unanswered cancellation requests (R5) and return requests (R11)."""
    return {
        "cancellation_requests_auto_approved": process_due_cancellation_requests(now=now),
        "returns_auto_approved": process_due_returns(now=now),
    }
