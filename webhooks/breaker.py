"""The per-partner circuit breaker of webhook delivery (``WebhookCircuit``): a failing endpoint is left alone.

A partner whose endpoint hangs or fails would otherwise cost a delivery
worker ``WEBHOOK_TIMEOUT`` per due event, every retry, for every event. After
``WEBHOOK_BREAKER_FAILURES`` failed attempts in a row the circuit opens: for
``WEBHOOK_BREAKER_COOLDOWN`` no request goes to that partner and its events
wait, keeping their attempts. Then one trial attempt is let through: its
success closes the circuit, its failure opens it again.

Every function here runs inside the caller's transaction, after the event row
is locked (locks are always taken event first, then circuit).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings

from webhooks.models import WebhookCircuit

logger = logging.getLogger(__name__)


def circuit_lock(partner_id: int) -> WebhookCircuit:
    """The partner's circuit row, created if missing, locked. Precondition: inside ``transaction.atomic()``."""
    WebhookCircuit.objects.bulk_create([WebhookCircuit(partner_id=partner_id)], ignore_conflicts=True)
    return WebhookCircuit.objects.select_for_update().get(partner_id=partner_id)


def circuit_paused_until(*, partner_id: int, now: datetime, trial_lease: timedelta) -> datetime | None:
    """When the partner may be tried again if its circuit is open now; None if an attempt may go out.

    A half-open circuit lets this one attempt through as the trial and holds the
    others off for ``trial_lease`` (the attempt's own lease), so only one
    request tests a failing endpoint at a time.
    """
    circuit = WebhookCircuit.objects.select_for_update().filter(partner_id=partner_id).first()
    if circuit is None or circuit.open_until is None:
        return None
    if circuit.open_until > now:
        return circuit.open_until
    circuit.open_until = now + trial_lease
    circuit.save(update_fields=["open_until"])
    logger.info("webhook circuit of partner %s half-open: one trial attempt", partner_id)
    return None


def circuit_record(*, partner_id: int, ok: bool, now: datetime) -> None:
    """Count an attempt's outcome: a success closes the circuit, enough failures in a row open it."""
    circuit = circuit_lock(partner_id)
    if ok:
        if circuit.consecutive_failures or circuit.open_until:
            if circuit.open_until:
                logger.info("webhook circuit of partner %s closed: the endpoint answered again", partner_id)
            circuit.consecutive_failures, circuit.open_until = 0, None
            circuit.save(update_fields=["consecutive_failures", "open_until"])
        return
    circuit.consecutive_failures += 1
    fields = ["consecutive_failures"]
    if circuit.consecutive_failures >= settings.WEBHOOK_BREAKER_FAILURES:
        circuit.open_until = now + settings.WEBHOOK_BREAKER_COOLDOWN
        circuit.opened_at = now
        fields += ["open_until", "opened_at"]
        logger.warning(
            "webhook circuit of partner %s open until %s after %s failed attempts in a row",
            partner_id,
            circuit.open_until.isoformat(),
            circuit.consecutive_failures,
        )
    circuit.save(update_fields=fields)
