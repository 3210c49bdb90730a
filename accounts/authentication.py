"""``Authorization: Api-Key <key>`` authentication for the partner API."""

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from accounts.models import Partner, PartnerApiKey
from core.api.throttling import client_address_throttle_check

KEYWORD = "Api-Key"


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Looks the key up by its public prefix and compares digests; ``request.user`` is the Partner."""

    def authenticate(self, request):
        # Before the key is looked at: guesses count against the address as much as good keys do.
        client_address_throttle_check(request)
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw_key = header.partition(" ")
        if keyword != KEYWORD:
            return None
        raw_key = raw_key.strip()
        prefix, dot, _ = raw_key.partition(".")
        if not dot or len(prefix) != PartnerApiKey.PREFIX_LENGTH or not _is_hex(prefix):
            raise exceptions.AuthenticationFailed("Malformed API key.")
        key = (
            PartnerApiKey.objects.select_related("partner")
            .filter(
                Q(revoked_at__isnull=True) | Q(revoked_at__gt=timezone.now()), prefix=prefix, partner__is_active=True
            )
            .first()
        )
        if key is None or key.digest != PartnerApiKey.digest_for(raw_key):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        return key.partner, key

    def authenticate_header(self, request):
        return KEYWORD


class IsPartner(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, Partner)


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents ``Authorization: Api-Key <key>`` in the schema (registered by being defined).

    Defined next to the authentication class, so it is loaded whenever that is.
    """

    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`, with the key shown once when the partner was created.",
        }
