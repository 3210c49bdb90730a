"""``Idempotency-Key`` for partner POSTs, after pretix's ``api/middleware.py``.

A partner whose connection drops cannot tell whether its POST ran. Sent again
with the same ``Idempotency-Key``, the request is not run a second time: the
first answer is replayed. To make that hold under concurrency, the key is
claimed by inserting an ``IdempotencyRecord`` and COMMITTING it in its own
transaction before the view runs, so a duplicate arriving meanwhile (another
worker, another thread) hits the unique constraint and answers 409
``request_in_progress`` instead of running alongside.

Outcomes:

- first use of a key: the request runs; its status and body are stored;
- same key, same method, path and body, first one finished: the stored
  answer is replayed, with ``Idempotent-Replayed: true``;
- same key while the first is still running: 409 ``request_in_progress``;
- same key with another body or path: 409 ``idempotency_key_reused``;
- the first run failed on our side (5xx) or hit a transient conflict (409,
  429): the record is deleted, so a retry runs the request again;
- a claim still without an answer after ``settings.IDEMPOTENCY_LEASE`` is
  abandoned (the worker running it was killed, or lost its connection before
  it could store the answer or free the key): the next retry takes the key
  over and runs the request. Nothing the first run wrote survived, since its
  transaction never committed an answer; the lease must exceed the web
  server's request timeout, so a request still running is never doubled;
- a record older than ``settings.IDEMPOTENCY_KEY_TTL`` is expired: the key
  is free again.

Keys are per partner: two partners may use the same key independently.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from accounts.models import IdempotencyRecord, Partner
from core.errors import DomainError, InvalidInput
from core.pruning import prune_in_batches

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Visible ASCII only: keys are compared byte for byte and echoed in logs.
_KEY_MAX = IdempotencyRecord._meta.get_field("key").max_length
_KEY_PATTERN = re.compile(rf"[\x21-\x7e]{{1,{_KEY_MAX}}}")
_PATH_MAX = IdempotencyRecord._meta.get_field("path").max_length
# Answers worth retrying: keeping them would replay a failure the partner could recover from.
_RETRYABLE_STATUSES = {409, 429}

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=HEADER,
    # The same rule as _KEY_PATTERN, written for the schema: visible ASCII is "!" to "~".
    type={"type": "string", "minLength": 1, "maxLength": _KEY_MAX, "pattern": f"^[!-~]{{1,{_KEY_MAX}}}$"},
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string of up to 255 visible ASCII characters (a UUID is a good choice). "
        "A repeat with the same key and body replays the first answer instead of running again; "
        "while the first is still running it answers 409 `request_in_progress`; with another body "
        "or path it answers 409 `idempotency_key_reused`. A first request that never finished (its connection "
        "was cut on our side) frees its key after a short lease, so a later retry runs it. Keys expire after "
        "24 hours by default."
    ),
)


class IdempotencyConflict(DomainError):
    """The key cannot be used for this request now (HTTP 409)."""

    code = "idempotency_conflict"
    status = 409


def request_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _expired_before() -> datetime:
    return timezone.now() - settings.IDEMPOTENCY_KEY_TTL


def _abandoned(record: IdempotencyRecord) -> bool:
    """A claim with no answer that has outlived the lease: its request is not running any more."""
    return record.response_status is None and record.created_at <= timezone.now() - settings.IDEMPOTENCY_LEASE


def idempotency_begin(
    *, partner: Partner, key: str, method: str, path: str, body: bytes
) -> tuple[IdempotencyRecord, bool]:
    """Claim ``key`` for this request; return ``(record, claimed)``.

    ``claimed`` is True when the caller must now run the request and then call
    ``idempotency_finish``; False when ``record`` holds a finished answer to
    replay. Raises IdempotencyConflict while another run holds the key or when
    the key was used for a different request.

    The claim is committed at once (``durable=True``): it must be visible to
    other connections before the request does any work, so this must not be
    called inside another transaction (e.g. with ``ATOMIC_REQUESTS``).
    """
    if not _KEY_PATTERN.fullmatch(key):
        raise InvalidInput(f"{HEADER} must be 1-255 visible ASCII characters.", code="invalid_idempotency_key")
    digest = request_digest(body)
    path = path[:_PATH_MAX]
    # Two rounds: the first may find an expired record (or one deleted after a
    # failure) standing in the way; after clearing it the insert is retried once.
    for _ in range(2):
        try:
            with transaction.atomic(durable=True):
                record = IdempotencyRecord.objects.create(
                    partner=partner, key=key, method=method, path=path, request_digest=digest
                )
            return record, True
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.filter(partner=partner, key=key).first()
        if record is None:
            continue
        if record.created_at <= _expired_before() or _abandoned(record):
            # Conditional on the row we judged, so a fresh claim or an answer racing with us is never deleted.
            IdempotencyRecord.objects.filter(
                pk=record.pk, created_at=record.created_at, response_status=record.response_status
            ).delete()
            continue
        if (record.method, record.path, record.request_digest) != (method, path, digest):
            raise IdempotencyConflict(
                f"This {HEADER} was already used for a different request.", code="idempotency_key_reused"
            )
        if record.response_status is None:
            raise IdempotencyConflict(
                f"A request with this {HEADER} is still being processed; retry later.", code="request_in_progress"
            )
        return record, False
    raise IdempotencyConflict(
        f"A request with this {HEADER} is still being processed; retry later.", code="request_in_progress"
    )


def idempotency_finish(*, record: IdempotencyRecord, response) -> None:
    """Store ``response`` as the answer to replay for ``record``'s key, or free the key.

    The key is freed (the record deleted) when the answer is a server error or
    a transient conflict, or has no JSON body to replay.
    """
    retryable = response.status_code >= 500 or response.status_code in _RETRYABLE_STATUSES
    if retryable or not isinstance(response, Response):
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return
    # Stored as rendered JSON, so the replay carries exactly what the first caller parsed. Only into our own
    # claim: if it outlived its lease and a retry took the key over, that retry's answer is the one kept.
    body = json.loads(JSONRenderer().render(response.data)) if response.data is not None else None
    IdempotencyRecord.objects.filter(pk=record.pk, response_status__isnull=True).update(
        response_status=response.status_code, response_body=body
    )


def idempotency_replay(record: IdempotencyRecord) -> Response:
    return Response(record.response_body, status=record.response_status, headers={REPLAYED_HEADER: "true"})


def idempotency_records_prune() -> int:
    """Delete records past ``IDEMPOTENCY_KEY_TTL`` (their key is free again anyway), in batches; return how many.

    Safe to run at any time: a record a request holds right now is left for the next run.
    """
    return prune_in_batches(IdempotencyRecord.objects.filter(created_at__lte=_expired_before()))


class _Replay(Exception):
    """Carries a stored answer out of ``initial()``, which cannot return a response itself."""

    def __init__(self, response: Response):
        super().__init__("idempotent replay")
        self.response = response


class IdempotentPostMixin:
    """Honour ``Idempotency-Key`` on POST for a DRF view; put it before ``APIView`` in the bases.

    The key is claimed in ``initial()``, after authentication (keys are per
    partner, and an unauthenticated request must not claim anything) and
    before the handler. ``finalize_response()`` sees the final answer, whether
    the handler returned it or an exception was turned into it, and stores it.
    """

    _idempotency_record: IdempotencyRecord | None = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._idempotency_record = None
        key = request.headers.get(HEADER)
        if request.method != "POST" or key is None:
            return
        record, claimed = idempotency_begin(
            partner=request.user, key=key, method=request.method, path=request.path, body=request.body
        )
        if not claimed:
            raise _Replay(idempotency_replay(record))
        self._idempotency_record = record

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record, self._idempotency_record = self._idempotency_record, None
        if record is not None:
            idempotency_finish(record=record, response=response)
        return response
