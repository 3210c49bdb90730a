"""Every answer under ``/api/`` is JSON in the API's error shape, whatever produced it and whether DEBUG is on.

DRF's exception handler (``core.api.errors``) covers what happens inside an
API view. Two things happen outside one:

- a path under ``/api/`` that no route matches: ``api_not_found`` is the last
  route under ``/api/`` (``backoffice/urls.py``), so no HTML 404 page and no
  DEBUG page is ever rendered for one, and no redirect to the same path with a
  slash is made either (a POST would lose its body); the answer names the
  path with the slash when that one exists;
- an error raised by middleware or by Django itself (an HTML 400 for a bad
  host, an HTML 500): ``ApiJsonErrorsMiddleware`` rewrites any answer of 400 or
  more under ``/api/`` that is not JSON.
"""

from __future__ import annotations

from http import HTTPStatus

from django.http import JsonResponse
from django.urls import Resolver404, resolve

API_PREFIX = "/api/"

_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
}


def api_error(status: int, detail: str = "", code: str = "") -> JsonResponse:
    """An answer in the API's error shape for ``status``."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return JsonResponse({"code": code or _CODES.get(status, "error"), "detail": detail or f"{phrase}."}, status=status)


def _resolves_elsewhere(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return match.func is not api_not_found


def api_not_found(request, rest: str = ""):
    """The route of last resort under ``/api/``: a JSON 404 for any method."""
    detail = "No such endpoint."
    if not request.path.endswith("/") and _resolves_elsewhere(request.path + "/"):
        detail = f"No such endpoint; did you mean {request.path}/ (with a trailing slash)?"
    return api_error(404, detail)


# Any method may reach it; CSRF protects browser sessions, and this route changes nothing.
api_not_found.csrf_exempt = True


class ApiJsonErrorsMiddleware:
    """Rewrites a non-JSON error answer under ``/api/`` into the API's error shape. Put it first in MIDDLEWARE."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.path.startswith(API_PREFIX)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            replacement = api_error(response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if response.has_header(header):
                    replacement[header] = response[header]
            return replacement
        return response
