"""Admin for returns (R11)."""
