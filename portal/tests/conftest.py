"""Fixtures of the portal tests: the payments app's Stripe emulator and its ``shop`` with a SKU."""

from payments.tests.conftest import *  # noqa: F403 - localstripe, the ``shop`` with a SKU, card helpers
