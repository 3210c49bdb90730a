"""How the reverse flows' deadlines read to people: "in 47 hours", "overdue by 5 minutes".

Used by the seller portal and the admin alike, so both count down the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'}"


def span(delta: timedelta) -> str:
    """A duration in the unit people think of for an answer window: minutes under an hour,
    hours under three days ("47 hours" rather than "1 day"), then days and hours."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return _plural(max(minutes, 1), "minute")
    hours = minutes // 60
    if hours < 72:
        return _plural(hours, "hour")
    days, hours = divmod(hours, 24)
    return _plural(days, "day") + (f" {_plural(hours, 'hour')}" if hours else "")


@dataclass(frozen=True)
class Countdown:
    at: datetime
    overdue: bool
    phrase: str  # "in 47 hours" or "overdue by 5 minutes"


def countdown(at: datetime, *, now: datetime) -> Countdown:
    """Time left until ``at`` (e.g. automatic approval), or how long it is overdue.

    Overdue means the timer has not acted yet; it does on its next pass.
    """
    if at > now:
        return Countdown(at=at, overdue=False, phrase=f"in {span(at - now)}")
    return Countdown(at=at, overdue=True, phrase=f"overdue by {span(now - at)}")


_CODE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")


def words_for(value: str, labels: dict[str, str] | None = None) -> str:
    """A value people may read, never a raw code: its label when ``labels`` knows it, a code such as
    ``wrong_item`` written as words ("Wrong item"), and anything else (free text) as it is."""
    value = (value or "").strip()
    if labels and value in labels:
        return labels[value]
    if _CODE.match(value):
        return value.replace("_", " ").capitalize()
    return value


def local_time(moment: datetime | None) -> str:
    """A moment as people read it everywhere: in the one display time zone (``TIME_ZONE``), with its name,
    e.g. "2026-03-03 14:05 UTC"."""
    if moment is None:
        return ""
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}"


def address_lines(*, line1: str, line2: str, city: str, region: str, postal_code: str, country: str) -> list[str]:
    """A postal address as it is written on a parcel: the street lines, then "Austin, TX 73301", then the
    country; empty parts are left out."""
    town = ", ".join(part for part in (city, " ".join(p for p in (region, postal_code) if p)) if part)
    return [part for part in (line1, line2, town, country) if part]


def order_address_lines(order) -> list[str]:
    """``address_lines`` of an order's ``ship_*`` fields."""
    return address_lines(
        line1=order.ship_line1,
        line2=order.ship_line2,
        city=order.ship_city,
        region=order.ship_region,
        postal_code=order.ship_postal_code,
        country=order.ship_country,
    )
