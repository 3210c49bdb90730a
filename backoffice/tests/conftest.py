"""The payments tests' Stripe emulator and shop, for the project-level tests that charge cards."""

from payments.tests.conftest import emulator, localstripe_url, shop, stripe_emulator  # noqa: F401
