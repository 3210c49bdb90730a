"""TikTok's signatures, as the emulator checks and makes them (standard library only)."""

from __future__ import annotations

import hashlib
import hmac

UNSIGNED = frozenset({"sign", "access_token", "x-tts-access-token"})


def request_sign(app_secret: str, path: str, params: dict[str, str], body: bytes) -> str:
    pieces = "".join(f"{key}{params[key]}" for key in sorted(params) if key not in UNSIGNED)
    message = app_secret.encode() + path.encode() + pieces.encode() + body + app_secret.encode()
    return hmac.new(app_secret.encode(), message, hashlib.sha256).hexdigest()


def request_sign_matches(app_secret: str, path: str, params: dict[str, str], body: bytes, sign: str) -> bool:
    """TikTok's official SDK leaves an empty ``{}`` body out of the signed string, others put it in: both pass."""
    candidates = [body]
    if body.strip() in (b"", b"{}"):
        candidates = [b"", b"{}"]
    return any(hmac.compare_digest(request_sign(app_secret, path, params, c), sign or "") for c in candidates)


def webhook_signature(app_key: str, app_secret: str, body: bytes) -> str:
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()
