"""The address a request came from, behind as many trusted proxies as ``TRUSTED_PROXY_COUNT`` says.

Login lockout (django-axes) and the API's per-address throttle count by it.
Behind a load balancer every request comes from the balancer's address, so
the client's own is read from ``X-Forwarded-For``: the entry the nearest
trusted proxy added, never one the client could have written itself.
"""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str:
    """The client's address; ``REMOTE_ADDR`` when no proxy is trusted or the header is missing."""
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies > 0 and forwarded:
        addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
        if addresses:
            return addresses[-min(proxies, len(addresses))]
    return request.META.get("REMOTE_ADDR", "")


def axes_client_ip(request) -> str:
    """``AXES_CLIENT_IP_CALLABLE``."""
    return client_ip(request)
