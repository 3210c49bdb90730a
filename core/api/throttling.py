"""API throttles: per API key, and per client address, answering 429 with ``Retry-After``.

Rates are read from settings on every request (``API_THROTTLE_RATE_KEY``,
``API_THROTTLE_RATE_ADDRESS``, e.g. ``1200/minute``), and counted in the cache:
with Redis they are shared by every process, without it each process counts
its own.

The per-address throttle is checked by the authentication class, before the
key is looked at, so guessing keys is limited as much as using a good one;
DRF's own throttle step runs only after authentication succeeded, where the
per-key throttle lives.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle

from core.client_ip import client_ip


class _SettingsRateThrottle(SimpleRateThrottle):
    rate_setting = ""

    def get_rate(self):
        return getattr(settings, self.rate_setting) or None


class ApiKeyRateThrottle(_SettingsRateThrottle):
    """Requests per API key (``request.auth`` is the key row)."""

    scope = "api_key"
    rate_setting = "API_THROTTLE_RATE_KEY"

    def get_cache_key(self, request, view):
        key = getattr(request, "auth", None)
        if key is None or getattr(key, "pk", None) is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": key.pk}


class ClientAddressRateThrottle(_SettingsRateThrottle):
    """Requests per client address, whatever key they carry, or none."""

    scope = "api_address"
    rate_setting = "API_THROTTLE_RATE_ADDRESS"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}


def client_address_throttle_check(request) -> None:
    """Raise ``Throttled`` (429 with ``Retry-After``) when this address has used up its rate."""
    throttle = ClientAddressRateThrottle()
    if not throttle.allow_request(request, None):
        raise Throttled(wait=throttle.wait())
