"""``Authorization: Api-Key <key>`` authentication for the partner API."""

from django.db.models import Q
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from backoffice.models import Partner, PartnerApiKey

KEYWORD = "Api-Key"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Looks the key up by its public prefix and compares digests; ``request.user`` is the Partner."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw_key = header.partition(" ")
        if keyword != KEYWORD:
            return None
        raw_key = raw_key.strip()
        prefix, dot, _ = raw_key.partition(".")
        if not dot or len(prefix) != PartnerApiKey.PREFIX_LENGTH:
            raise exceptions.AuthenticationFailed("Malformed API key.")
        key = (
            PartnerApiKey.objects.select_related("partner")
            .filter(Q(revoked_at__isnull=True) | Q(revoked_at__gt=timezone.now()), prefix=prefix, partner__is_active=True)
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
