"""DRF fields every API module shares: money in minor units, and timestamps that must be plausible."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers
from rest_framework.fields import empty

# How far ahead of our clock a partner's timestamp may be: clocks drift, the future does not happen.
CLOCK_SKEW = timedelta(minutes=5)


def not_in_future(value: datetime) -> datetime:
    """Reject timestamps later than now (plus clock skew): an order cannot be placed or paid tomorrow.

    This also keeps every deadline we derive from them (``+ PAYMENT_WINDOW``,
    ``+ HOLD_PERIOD``) far away from the end of the calendar.
    """
    if value > timezone.now() + CLOCK_SKEW:
        raise serializers.ValidationError("Must not be in the future.", code="in_future")
    return value


def not_too_old(value: datetime) -> datetime:
    """Reject timestamps older than ``TIMESTAMP_MAX_AGE``: a partner's clock or parser is wrong.

    An order "placed" in year 1 would be late on every clock at once and skew
    the seller's performance figures (R14); nothing real arrives that late.
    """
    if value < timezone.now() - settings.TIMESTAMP_MAX_AGE:
        days = settings.TIMESTAMP_MAX_AGE.days
        raise serializers.ValidationError(f"Must not be more than {days} days in the past.", code="too_old")
    return value


def plausible_time(value: datetime) -> datetime:
    """Neither in the future nor too far in the past: the validator of every time a partner reports."""
    return not_too_old(not_in_future(value))


class MinorUnitsField(serializers.DecimalField):
    """A money amount: ``"19.99"`` on the wire, ``1999`` (integer minor units) in Python and the database.

    Two decimal places, the minor unit of ``settings.CURRENCY``. The upper
    bound keeps the stored value inside a 32-bit integer column.
    """

    MAX = Decimal("9999999.99")

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", Decimal("0"))
        kwargs.setdefault("max_value", self.MAX)
        super().__init__(max_digits=9, decimal_places=2, coerce_to_string=True, **kwargs)

    def run_validation(self, data=empty):
        # The bounds are written in major units, so they are checked before the conversion.
        value = super().run_validation(data)
        return int(value.scaleb(2)) if isinstance(value, Decimal) else value

    def to_representation(self, value: int) -> str:
        return super().to_representation(Decimal(value).scaleb(-2))
