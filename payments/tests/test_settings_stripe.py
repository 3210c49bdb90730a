"""Production refuses to start without Stripe keys; development talks to the local emulator by default."""

import pytest

from backoffice.tests.test_settings import STRONG_KEY, run_manage

PRODUCTION = {"DEBUG": "false", "SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "backoffice.example.com"}
SECRET = "sk_live_" + "a1" * 20
PUBLISHABLE = "pk_live_" + "b2" * 20


@pytest.mark.parametrize(
    "keys",
    [
        {},
        {"STRIPE_SECRET_KEY": SECRET},
        {"STRIPE_PUBLISHABLE_KEY": PUBLISHABLE},
        {"STRIPE_SECRET_KEY": "sk_live_short", "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE},
        {"STRIPE_SECRET_KEY": PUBLISHABLE, "STRIPE_PUBLISHABLE_KEY": SECRET},
    ],
)
def test_production_refuses_missing_or_malformed_stripe_keys(keys):
    result = run_manage("check", **PRODUCTION, **keys)
    assert result.returncode != 0
    assert "STRIPE_SECRET_KEY" in result.stderr


def _setting(expression, **env):
    result = run_manage("shell", "-v", "0", "-c", f"from django.conf import settings as s; print({expression})", **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_production_talks_to_stripe_and_development_to_the_emulator():
    assert (
        _setting(
            "getattr(s, 'STRIPE_API_HOST', 'stripe'), s.STRIPE_JS_URL, s.STRIPE_LIVE_MODE",
            **PRODUCTION,
            STRIPE_SECRET_KEY=SECRET,
            STRIPE_PUBLISHABLE_KEY=PUBLISHABLE,
        )
        == "stripe https://js.stripe.com/v3/ True"
    )
    assert _setting("s.STRIPE_API_HOST, s.STRIPE_JS_URL, s.STRIPE_LIVE_MODE", DEBUG="true") == (
        "http://127.0.0.1:8420 http://127.0.0.1:8420/js.stripe.com/v3/ False"
    )
