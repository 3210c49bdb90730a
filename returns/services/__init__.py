"""Writes for reverse flows: ``cancellations`` (R5) and ``returns`` (R11), one function per action."""
