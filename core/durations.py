"""Parse the human-friendly durations used by every time-window setting.

Windows are written as ``<number><unit>`` where unit is ``s``, ``m``, ``h`` or
``d`` (``90s``, ``60m``, ``24h``, ``11d``). A bare number means seconds. Lists
of durations (retry back-offs) are comma separated.
"""

import re
from datetime import timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(value: str | int | float) -> timedelta:
    """Return a timedelta for ``value``; raise ValueError with a clear message."""
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    match = _PATTERN.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration; use e.g. 90s, 60m, 24h or 11d")
    number, unit = match.groups()
    return timedelta(**{_UNITS[unit or "s"]: float(number)})


def parse_duration_list(value: str) -> list[timedelta]:
    """Parse ``"1h,6h,24h"`` into a list of timedeltas (empty string → empty list)."""
    return [parse_duration(part) for part in str(value).split(",") if part.strip()]
