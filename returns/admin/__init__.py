"""Admin for cancellation requests and returns; each module registers its own models."""

from returns.admin import cancellations, returns  # noqa: F401
