"""One error shape for the whole API: ``{"code": ..., "detail": ..., "errors": {field: [...]}}``."""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from backoffice.errors import DomainError

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        body = {"code": exc.code, "detail": exc.detail}
        if getattr(exc, "errors", None):
            body["errors"] = exc.errors
        return Response(body, status=exc.status)
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            {"code": "invalid", "detail": "The request has invalid fields.", "errors": exc.detail},
            status=status.HTTP_400_BAD_REQUEST,
        )
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
