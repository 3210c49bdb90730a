"""One error shape for the whole API: ``{"code": ..., "detail": ..., "errors": {field: [...]}}``.

Partners write one error handler against this shape, so every failure an
input can cause (bad JSON, a body too large, a forged header, a domain rule)
comes out in it with a 4xx status; a 500 means a bug on our side.
"""

import io
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError

logger = logging.getLogger(__name__)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, made to answer every hostile body with an API error.

    - A body nested too deeply to decode is a 400 like any other bad JSON: the
      standard parser only turns ``ValueError`` into a parse error, and the
      decoder raises ``RecursionError`` for a few thousand nested brackets.
    - A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a 413. Django enforces
      that limit only on ``request.body``, and DRF parses the raw stream.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and stream is not None:
            content = stream.read(limit + 1)
            if len(content) > limit:
                raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
            stream = io.BytesIO(content)
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - the document is nested too deeply.") from None


def _field_errors(detail):
    """Field errors are always a mapping; errors not tied to a field go under ``non_field_errors``."""
    if isinstance(detail, dict):
        return detail
    return {"non_field_errors": detail if isinstance(detail, list) else [detail]}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        body = {"code": exc.code, "detail": exc.detail}
        if getattr(exc, "errors", None):
            body["errors"] = exc.errors
        return Response(body, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        # A model or form validator reached from a view; same meaning as a serializer error.
        exc = exceptions.ValidationError(get_error_detail(exc))
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            {"code": "invalid", "detail": "The request has invalid fields.", "errors": _field_errors(exc.detail)},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"code": "too_large", "detail": "The request body is too large."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, SuspiciousOperation):
        # Django answers these with a bare 400; keep our shape and do not echo the input.
        return Response({"code": "bad_request", "detail": "The request is malformed."}, status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = {"code": code, "detail": str(detail)}
        return response
    # Anything else is a bug; answer with the same shape rather than an HTML 500 page.
    logger.exception("unhandled API error", exc_info=exc)
    return Response({"code": "server_error", "detail": "Internal error; it has been logged."}, status=500)


# --- OpenAPI -----------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    """The error body, for the schema only."""

    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `invalid`, `already_shipped`.")
    detail = serializers.CharField(help_text="Human-readable explanation.")
    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="For `invalid`: the messages per field; nested objects and lists mirror the request body.",
    )


_ERROR_MEANINGS = {
    400: "Invalid input; `errors` lists the problems per field.",
    401: "Missing, malformed or unknown API key.",
    404: "No such object for this partner.",
    409: "Not allowed in the object's current state, or an Idempotency-Key conflict; see `code`.",
    413: "The request body is too large.",
    429: "Too many requests from this key or address; retry after the `Retry-After` header's seconds.",
}


def error_responses(*statuses: int) -> dict:
    """``extend_schema(responses=...)`` entries documenting the error answers a view can give.

    429 is always among them: every operation is throttled (``core.api.throttling``).
    """
    return {
        code: OpenApiResponse(ErrorSerializer, description=_ERROR_MEANINGS[code]) for code in sorted({*statuses, 429})
    }
