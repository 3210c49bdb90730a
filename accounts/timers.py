"""The accounts app's timer: idempotency records past ``IDEMPOTENCY_KEY_TTL`` are deleted."""

from __future__ import annotations

from datetime import datetime

from accounts.idempotency import idempotency_purge_expired


def process_due_accounts(*, now: datetime) -> dict[str, int]:
    return {"idempotency_keys_purged": idempotency_purge_expired()}
