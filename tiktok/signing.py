"""TikTok Shop's two signatures: on our requests to its API, and on its webhooks to us.

Both are hex HMAC-SHA256 keyed with the app secret (TIKTOK.md, "Signing a
request" and "Webhooks"). Pure functions, no settings: the emulator and the
tests use the same definitions as the client and the webhook view.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

# Never part of the signed string: the signature itself and a token put in the query by mistake.
UNSIGNED_PARAMS = frozenset({"sign", "access_token", "x-tts-access-token"})


def query_value(value) -> str:
    """A query value as TikTok signs it: lists joined with commas, everything else as text."""
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def request_sign(*, app_secret: str, path: str, params: Mapping[str, object], body: bytes = b"") -> str:
    """The ``sign`` query parameter of a request to ``path`` (the path alone, no host or query).

    The string is the path, then every parameter but ``sign`` and ``access_token``
    sorted by key as ``key``+``value``, then the raw body (not for multipart),
    wrapped in the secret on both sides.
    """
    pieces = "".join(f"{key}{query_value(params[key])}" for key in sorted(params) if key not in UNSIGNED_PARAMS)
    message = app_secret.encode() + path.encode() + pieces.encode() + body + app_secret.encode()
    return hmac.new(app_secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_signature(*, app_key: str, app_secret: str, body: bytes) -> str:
    """The ``Authorization`` header TikTok sends with a webhook: HMAC of the app key then the raw body."""
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


def webhook_verify(*, app_key: str, app_secret: str, body: bytes, signature: str) -> bool:
    """True when ``signature`` (the ``Authorization`` header) is TikTok's for ``body``; compared in constant time."""
    if not signature or not app_key or not app_secret:
        return False
    expected = webhook_signature(app_key=app_key, app_secret=app_secret, body=body)
    return hmac.compare_digest(expected, signature.strip().lower())
