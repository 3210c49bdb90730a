"""Outbound partner webhooks (R13): an outbox, delivered after commit as signed POSTs with backoff.

How an event travels:

1. ``webhook_event_create`` writes a ``WebhookEvent`` row inside the caller's
   transaction (the one that moved the order; each app builds its own
   payloads in its ``notify.py``), due at once, and with
   ``transaction.on_commit`` asks django-q2 to deliver it, on the delivery
   queue (``WEBHOOK_QUEUE``), which its own workers serve: a slow partner
   never holds up the timers, payments or emails. The order change and its
   events commit or roll back together, and nothing is sent before commit.
2. ``webhook_event_deliver`` claims the event in a short transaction of its own
   (locked, re-checked as due, ``next_attempt_at`` pushed forward as a
   lease, the attempt row created), commits, POSTs with no transaction or row
   lock open, then records the outcome in a new transaction: a 2xx answer
   delivers the event; anything else schedules the next attempt after the next
   ``WEBHOOK_RETRY_BACKOFF`` step, or parks the event when no step is left.
3. ``webhooks.timers.process_due_webhooks``, in the timer pass, puts whatever
   is due on the delivery queue (retries, and events whose prompt task was
   lost); it never sends anything itself.
4. ``webhooks.breaker``: after repeated failures in a row a partner's circuit
   opens, and its events wait out a cool-down without using up attempts.

Delivery is at least once: if a worker dies after the POST but before recording
it, the event is due again when its lease ends. Partners dedupe on the event id.

Only partners that are active and have a webhook URL get events: webhooks are
a subscription, and a partner that never configured one would otherwise pile
up parked events that hide real delivery failures. The REST API always has
the current state of every order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django_fsm import can_proceed
from django_q.tasks import async_task

from accounts.models import Partner
from core.actors import Actor
from core.errors import InvalidInput, NotFound, TransitionRefused
from core.pruning import prune_in_batches
from webhooks.breaker import circuit_paused_until, circuit_record
from webhooks.models import WebhookDelivery, WebhookEvent, WebhookEventLog, WebhookEventStatus, WebhookEventType
from webhooks.targets import webhook_target_problem

logger = logging.getLogger(__name__)

DELIVERY = Actor.system("webhooks")

SIGNATURE_HEADER = "X-Backoffice-Signature"
EVENT_ID_HEADER = "X-Backoffice-Event-Id"
EVENT_TYPE_HEADER = "X-Backoffice-Event-Type"
ATTEMPT_HEADER = "X-Backoffice-Delivery-Attempt"
USER_AGENT = "Backoffice-Webhooks/1.0"
SECRET_PREFIX = "whsec_"
DELIVER_TASK = "webhooks.tasks.webhook_event_deliver"

# How much of a failed answer's body is kept in the attempt's error.
_ERROR_BODY_BYTES = 300
_CONNECTION_PREFIX = re.compile(r"^(<[^>]*>|\w+\(host=[^)]*\)): ")


# --- secrets, URLs and signatures ------------------------------------------------------


def webhook_secret_generate() -> str:
    """A new signing secret: 256 random bits. The whole string (prefix included) is the HMAC key."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def webhook_url_clean(url: str) -> str:
    """Return ``url`` stripped, or raise InvalidInput.

    Plain http is refused unless ``WEBHOOK_ALLOW_HTTP``; a host that is or
    resolves to an internal address unless ``WEBHOOK_ALLOW_PRIVATE_TARGETS``
    (``webhooks.targets``).
    """
    url = (url or "").strip()
    if len(url) > Partner._meta.get_field("webhook_url").max_length:
        raise InvalidInput("The webhook URL is longer than 500 characters.", code="invalid_webhook_url")
    schemes = ["https", "http"] if settings.WEBHOOK_ALLOW_HTTP else ["https"]
    try:
        URLValidator(schemes=schemes)(url)
    except ValidationError:
        detail = "Enter a valid https:// URL." if "http" not in schemes else "Enter a valid http(s):// URL."
        raise InvalidInput(f"{url!r} is not a usable webhook URL. {detail}", code="invalid_webhook_url") from None
    problem = webhook_target_problem(url)
    if problem:
        raise InvalidInput(f"{url!r} cannot receive webhooks: {problem}.", code="webhook_url_internal")
    return url


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with ``secret``: the ``v1`` value of the header."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def webhook_signature_header(*, partner: Partner, timestamp: int, body: bytes, now: datetime) -> str:
    """``t=<ts>,v1=<hex>``; during a rotation's grace period a second ``v1`` is signed with the old secret."""
    parts = [f"t={timestamp}", f"v1={webhook_signature(secret=partner.webhook_secret, timestamp=timestamp, body=body)}"]
    expires = partner.webhook_previous_secret_expires_at
    if partner.webhook_previous_secret and expires is not None and expires > now:
        parts.append(f"v1={webhook_signature(secret=partner.webhook_previous_secret, timestamp=timestamp, body=body)}")
    return ",".join(parts)


def iso(value: datetime | None) -> str | None:
    """A time as partners receive it: ISO 8601 in UTC with a ``Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def webhook_event_body(event: WebhookEvent) -> bytes:
    """The exact bytes POSTed for ``event`` (the same on every attempt; the signature covers them)."""
    envelope = {
        "id": str(event.uuid),
        "type": event.type,
        "occurred_at": iso(event.occurred_at),
        "order_id": event.order_id,
        "external_id": event.external_id or None,
        "seller": event.seller_code or None,
        "data": event.data,
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True, cls=DjangoJSONEncoder).encode()


# --- writing events (inside the caller's transaction) ----------------------------------


def webhook_partner_subscribed(partner: Partner) -> bool:
    return bool(partner.is_active and partner.webhook_url)


def webhook_event_create(
    *,
    partner: Partner,
    type: str,
    data: dict,
    order_id: int | None = None,
    external_id: str = "",
    seller_code: str = "",
) -> WebhookEvent | None:
    """Write an outbox row for ``partner`` and have it delivered once the caller's transaction commits.

    ``order_id``, ``external_id`` and ``seller_code`` are the envelope's
    subject, sent as given. Call it inside the transaction that made the
    change, so both commit or roll back together. Returns None, writing
    nothing, when the partner is inactive or has no webhook URL (see the
    module docstring).
    """
    if type not in WebhookEventType.values:
        raise InvalidInput(f"Unknown webhook event type {type!r}.", code="invalid_event_type")
    if not webhook_partner_subscribed(partner):
        return None
    now = timezone.now()
    event = WebhookEvent.objects.create(
        partner=partner,
        type=type,
        order_id=order_id,
        external_id=external_id,
        seller_code=seller_code,
        occurred_at=now,
        data=data,
        next_attempt_at=now,
    )
    transaction.on_commit(lambda: _enqueue_delivery(event.pk))
    return event


def _enqueue_delivery(event_id: int) -> None:
    """The prompt delivery after commit (a test replaces it to model a task that got lost)."""
    webhook_event_enqueue(event_id)


def webhook_event_enqueue(event_id: int, *, now: datetime | None = None) -> bool:
    """Put a delivery task for a due event on the delivery queue, unless one was put there lately; return if it was.

    The mark (``enqueued_at``) is set first and conditionally, so parallel timer
    passes queue an event once; a worker clears it when it takes the attempt.
    If the queue is down, the timer pass queues the event again later: never
    fail the caller.
    """
    now = now or timezone.now()
    marked = (
        WebhookEvent.objects.filter(pk=event_id, status=WebhookEventStatus.PENDING, next_attempt_at__lte=now)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lte=now - settings.WEBHOOK_REQUEUE_AFTER))
        .update(enqueued_at=now)
    )
    if not marked:
        return False
    try:
        async_task(DELIVER_TASK, event_id, group="webhooks", cluster=settings.WEBHOOK_QUEUE)
    except Exception:  # the row is committed; the timer pass will queue it again
        logger.exception("could not enqueue webhook event %s; the timer pass will queue it again", event_id)
    return True


# --- delivering ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    """Everything one attempt needs, read under the lock, so the POST itself touches no database row."""

    event_id: int
    partner_id: int
    delivery_id: int
    round: int
    number: int
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class _Outcome:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def webhook_lease() -> timedelta:
    """How long a claimed attempt keeps other workers off the event; past it, a dead worker's attempt is retried."""
    return 2 * settings.WEBHOOK_TIMEOUT + timedelta(seconds=60)


def _lock_event(event_id: int) -> WebhookEvent | None:
    """Lock one event and return it re-read. Precondition: inside ``transaction.atomic()``."""
    return WebhookEvent.objects.select_for_update(of=("self",)).filter(pk=event_id).first()


def _transition(event: WebhookEvent, name: str, *, actor: Actor, fields: list[str], **args) -> None:
    """Run transition ``name`` on a locked event, save what it touched, and write its history row."""
    from_status = event.status
    getattr(event, name)(**args)
    event.save(update_fields=["status", *fields])
    WebhookEventLog.record(
        event=event, actor=actor, action=name, from_status=from_status, to_status=event.status, note=event.last_error
    )


def _undeliverable(partner: Partner) -> str:
    if not partner.is_active:
        return "partner is deactivated"
    if not partner.webhook_url:
        return "no webhook URL configured"
    if not partner.webhook_secret:
        return "no webhook secret configured"
    return ""


def _claim(event_id: int) -> _Claim | None:
    """Take the next attempt of a due event, or return None if it is not due or another worker has it.

    Commits on return, so the lease and the attempt row are visible to every
    other worker before the request goes out.
    """
    now = timezone.now()
    with transaction.atomic(durable=True):
        # Waits for the row rather than skipping it: every other holder (a claim, a record, a timer pass marking
        # the event queued) is a short transaction, and skipping would leave a queued event to the next requeue.
        event = (
            WebhookEvent.objects.select_for_update(of=("self",))
            .filter(pk=event_id, status=WebhookEventStatus.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if event is None:
            return None
        partner = Partner.objects.get(pk=event.partner_id)
        problem = _undeliverable(partner)
        if problem:
            _transition(event, "park", actor=DELIVERY, fields=["next_attempt_at", "last_error"], error=problem)
            logger.warning("webhook event %s parked: %s", event.uuid, problem)
            return None
        paused_until = circuit_paused_until(partner_id=partner.pk, now=now, trial_lease=webhook_lease())
        if paused_until is not None:
            # The partner's endpoint keeps failing: wait with it, without using up an attempt.
            event.next_attempt_at, event.enqueued_at = paused_until, None
            event.last_error = f"paused: the endpoint failed repeatedly; next try at {iso(paused_until)}"
            event.save(update_fields=["next_attempt_at", "enqueued_at", "last_error"])
            return None
        # An earlier attempt of this round whose worker never reported back (it died, or outran its lease).
        WebhookDelivery.objects.filter(event=event, finished_at__isnull=True).update(
            error="no result recorded: the worker stopped or its lease ran out"
        )
        event.attempts += 1
        event.last_attempt_at = now
        event.next_attempt_at = now + webhook_lease()
        event.enqueued_at = None
        event.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at", "enqueued_at"])
        delivery = WebhookDelivery.objects.create(
            event=event, round=event.round, number=event.attempts, url=partner.webhook_url, started_at=now
        )
        body = webhook_event_body(event)
        timestamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: str(event.uuid),
            EVENT_TYPE_HEADER: event.type,
            ATTEMPT_HEADER: str(event.attempts),
            SIGNATURE_HEADER: webhook_signature_header(partner=partner, timestamp=timestamp, body=body, now=now),
        }
    return _Claim(
        event_id=event.pk,
        partner_id=partner.pk,
        delivery_id=delivery.pk,
        round=delivery.round,
        number=delivery.number,
        url=delivery.url,
        body=body,
        headers=headers,
    )


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, e.g. ``[Errno 111] Connection refused``."""
    seen = exc
    for _ in range(5):
        inner = getattr(seen, "reason", None) or (
            seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        )
        if not isinstance(inner, BaseException):
            break
        seen = inner
    # urllib3 prefixes its messages with the connection, e.g. "HTTPConnection(host='x', port=80): ".
    return _CONNECTION_PREFIX.sub("", str(seen))


def _post(claim: _Claim) -> _Outcome:
    """Send one attempt. Never raises: every failure becomes the outcome's error.

    Redirects are not followed (a 3xx is a failure that names the target), so a
    compromised or moved endpoint cannot bounce signed events to another host.
    """
    timeout = settings.WEBHOOK_TIMEOUT.total_seconds()
    started = time.monotonic()
    # Checked again now: the name may resolve to an internal address since the URL was set.
    problem = webhook_target_problem(claim.url)
    if problem:
        return _Outcome(status_code=None, error=f"not sent: {problem}"[:500], duration_ms=0)
    status_code, error = None, ""
    try:
        with requests.post(
            claim.url, data=claim.body, headers=claim.headers, timeout=timeout, allow_redirects=False, stream=True
        ) as response:
            status_code = response.status_code
            if 300 <= status_code < 400:
                error = f"HTTP {status_code}: redirect to {response.headers.get('Location', '?')} not followed"
            elif not 200 <= status_code < 300:
                snippet = response.raw.read(_ERROR_BODY_BYTES, decode_content=True) or b""
                error = f"HTTP {status_code} {response.reason}: {snippet.decode(errors='replace').strip()}".strip(": ")
    except requests.Timeout:
        error = f"timed out after {timeout:g}s"
    except requests.ConnectionError as exc:
        error = f"connection failed: {_root_cause(exc)}"
    except Exception as exc:  # noqa: BLE001 - anything else is a failed attempt too, never a lost one
        error = f"request failed: {exc!r}"
    return _Outcome(status_code=status_code, error=error[:500], duration_ms=int((time.monotonic() - started) * 1000))


def _record(claim: _Claim, outcome: _Outcome) -> WebhookDelivery:
    """Write the attempt's result and move the event: delivered, retried later, or parked."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        event = _lock_event(claim.event_id)
        WebhookDelivery.objects.filter(pk=claim.delivery_id).update(
            finished_at=now, status_code=outcome.status_code, duration_ms=outcome.duration_ms, error=outcome.error
        )
        delivery = WebhookDelivery.objects.get(pk=claim.delivery_id)
        circuit_record(partner_id=claim.partner_id, ok=outcome.ok, now=now)
        current = (
            event is not None
            and event.status == WebhookEventStatus.PENDING
            and (event.round, event.attempts) == (claim.round, claim.number)
        )
        if not current:
            # Staff redelivered it, or the lease ran out and a later attempt owns the event now.
            return delivery
        backoff = settings.WEBHOOK_RETRY_BACKOFF
        if outcome.ok:
            _transition(
                event,
                "mark_delivered",
                actor=DELIVERY,
                fields=["delivered_at", "next_attempt_at", "last_error"],
                at=now,
            )
        elif claim.number > len(backoff):
            error = f"gave up after {claim.number} attempt{'s' if claim.number > 1 else ''}; last: {outcome.error}"
            _transition(event, "park", actor=DELIVERY, fields=["next_attempt_at", "last_error"], error=error)
        else:
            event.next_attempt_at = now + backoff[claim.number - 1]
            event.last_error = outcome.error
            event.save(update_fields=["next_attempt_at", "last_error"])
    level = logging.INFO if outcome.ok else logging.WARNING
    logger.log(
        level,
        "webhook event %s attempt %s.%s: %s",
        event.uuid,
        claim.round,
        claim.number,
        outcome.error or outcome.status_code,
    )
    return delivery


def webhook_event_deliver(event_id: int) -> WebhookDelivery | None:
    """Make the next attempt at delivering event ``event_id`` if it is due; return the attempt, or None.

    Safe to call from any number of workers at once: each attempt is claimed by
    one of them. Precondition: no transaction is open (the claim and the record
    are durable transactions, so the POST happens between two commits).
    """
    claim = _claim(event_id)
    if claim is None:
        return None
    return _record(claim, _post(claim))


def webhook_events_prune(*, now: datetime) -> int:
    """Delete delivered events older than ``WEBHOOK_RETENTION``, with their attempts and history, in batches.

    Parked and pending events stay. An event redelivered since it was read is pending again and stays; one a
    worker holds is left for the next run. Returns how many events were deleted.
    """
    return prune_in_batches(
        WebhookEvent.objects.filter(
            status=WebhookEventStatus.DELIVERED, delivered_at__lt=now - settings.WEBHOOK_RETENTION
        )
    )


# --- a partner's webhook URL and signing secret -----------------------------------------------


def partner_webhook_configure(*, partner_id: int, url: str, actor: Actor) -> tuple[Partner, str | None]:
    """Set where ``partner`` receives webhooks, or stop them with an empty ``url``; return ``(partner, new_secret)``.

    The first URL also creates the signing secret, returned here once (None
    otherwise): the caller must show it to a person at once and never log it.
    Without a URL no new events are written; events already queued are parked
    when their turn comes, and can be redelivered once a URL is set again.
    Plain http is refused unless ``WEBHOOK_ALLOW_HTTP``.
    """
    url = webhook_url_clean(url) if (url or "").strip() else ""
    with transaction.atomic():
        partner = Partner.objects.select_for_update().filter(pk=partner_id).first()
        if partner is None:
            raise NotFound(f"Partner {partner_id} does not exist.")
        changed, new_secret = [], None
        if partner.webhook_url != url:
            partner.webhook_url = url
            changed.append("webhook_url")
        if url and not partner.webhook_secret:
            new_secret = webhook_secret_generate()
            partner.webhook_secret, partner.webhook_secret_set_at = new_secret, timezone.now()
            changed += ["webhook_secret", "webhook_secret_set_at"]
        if changed:
            partner.save(update_fields=changed)
    if changed:
        logger.info("partner %s webhook URL set to %r by %s", partner.name, url or "(none)", actor)
    return partner, new_secret


def partner_webhook_secret_rotate(*, partner_id: int, actor: Actor) -> tuple[Partner, str]:
    """Give ``partner`` a new signing secret; return ``(partner, new_secret)``, the only time it is readable.

    The secret it replaces keeps signing too (a second ``v1`` in the signature
    header) for ``WEBHOOK_SECRET_ROTATION_GRACE``, so the partner can deploy the
    new one without rejecting events meanwhile. Rotating again within that time
    keeps only the secret just replaced.
    """
    with transaction.atomic():
        partner = Partner.objects.select_for_update().filter(pk=partner_id).first()
        if partner is None:
            raise NotFound(f"Partner {partner_id} does not exist.")
        now = timezone.now()
        fields = ["webhook_secret", "webhook_secret_set_at"]
        if partner.webhook_secret:
            partner.webhook_previous_secret = partner.webhook_secret
            partner.webhook_previous_secret_expires_at = now + settings.WEBHOOK_SECRET_ROTATION_GRACE
            fields += ["webhook_previous_secret", "webhook_previous_secret_expires_at"]
        new_secret = webhook_secret_generate()
        partner.webhook_secret, partner.webhook_secret_set_at = new_secret, now
        partner.save(update_fields=fields)
    logger.info("partner %s webhook secret rotated by %s", partner.name, actor)
    return partner, new_secret


# --- staff actions ---------------------------------------------------------------------------


def webhook_event_redeliver(*, event_id: int, actor: Actor) -> WebhookEvent:
    """Queue a parked or delivered event again: a new round with a full retry schedule, due now.

    Audited in the event's state history with who asked. An event that is
    already pending is left as it is. Refused while the partner cannot receive
    webhooks (inactive, or no URL), since the event would only park again.
    """
    with transaction.atomic():
        event = _lock_event(event_id)
        if event is None:
            raise NotFound(f"Webhook event {event_id} does not exist.")
        if event.status == WebhookEventStatus.PENDING:
            return event
        problem = _undeliverable(Partner.objects.get(pk=event.partner_id))
        if problem:
            raise TransitionRefused(f"Cannot redeliver: {problem} for this partner.", code="webhook_not_configured")
        if not can_proceed(event.requeue):
            raise TransitionRefused(f"Webhook event {event.uuid} is {event.status}; it cannot be redelivered.")
        _transition(
            event,
            "requeue",
            actor=actor,
            fields=["round", "attempts", "next_attempt_at", "last_error", "delivered_at"],
            at=timezone.now(),
        )
        transaction.on_commit(lambda: _enqueue_delivery(event.pk))
    logger.info("webhook event %s queued for redelivery (round %s) by %s", event.uuid, event.round, actor)
    return event


# --- reads for the console ------------------------------------------------------------------


def webhook_counts() -> dict[str, int]:
    """Parked events (staff must act) and pending events that have failed at least once, in one query."""
    return WebhookEvent.objects.filter(status__in=[WebhookEventStatus.PARKED, WebhookEventStatus.PENDING]).aggregate(
        parked=Count("pk", filter=Q(status=WebhookEventStatus.PARKED)),
        retrying=Count("pk", filter=Q(status=WebhookEventStatus.PENDING, attempts__gt=0)),
    )
