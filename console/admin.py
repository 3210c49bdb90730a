"""Registers the console's own model admins (found by the admin's autodiscovery)."""

from console import orders, partners, sellers  # noqa: F401 - importing registers them
