"""Shop tokens are stored encrypted (Fernet from ``cryptography``), and never shown again once saved.

The key comes from ``TIKTOK_TOKEN_KEY`` (one or more comma-separated secrets,
the first encrypts and all decrypt, so a key can be rotated), or from
``SECRET_KEY`` when that is unset. Each secret is stretched to a Fernet key
with SHA-256, so any long random string will do.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _fernet_key(secret: str) -> bytes:
    digest = hashlib.sha256(b"tiktok-shop-tokens:" + secret.encode()).digest()
    return base64.urlsafe_b64encode(digest)


@cache
def _cipher(secrets: tuple[str, ...]) -> MultiFernet:
    if not secrets:
        raise ImproperlyConfigured("TIKTOK_TOKEN_KEY (or SECRET_KEY) is needed to store TikTok tokens.")
    return MultiFernet([Fernet(_fernet_key(secret)) for secret in secrets])


def cipher() -> MultiFernet:
    return _cipher(tuple(settings.TIKTOK_TOKEN_KEYS))


def encrypt(value: str) -> str:
    return cipher().encrypt(value.encode()).decode() if value else ""


def decrypt(value: str) -> str:
    """The clear token; empty when none is stored. Raises ImproperlyConfigured when no key can read it."""
    if not value:
        return ""
    try:
        return cipher().decrypt(value.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored TikTok token cannot be decrypted: TIKTOK_TOKEN_KEY changed without keeping the old key."
        ) from None
