"""Admin for cancellation requests (R5)."""
