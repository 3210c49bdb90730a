"""Query filters every API list shares: times normalised to UTC, and a query string read strictly.

A time filter is compared with a database column, so its value must be one
every database accepts. Python parses UTC offsets up to ±23:59, PostgreSQL
only up to ±15:59: a raw ``+20:00`` reached the query and answered 500. Each
time is turned into UTC first, and one that leaves the calendar doing so
(``0001-01-01T00:00+01:00``) is a 400 like any other bad value.
"""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from rest_framework.exceptions import ValidationError

EMPTY = "May not be empty; leave the parameter out instead."
REPEATED = "Give this parameter once."


class UtcIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("This time is outside the calendar once turned into UTC.") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time, compared in UTC whatever offset it was written with."""

    field_class = UtcIsoDateTimeField


def query_params_check(request, names) -> None:
    """Refuse an empty or repeated value for any of ``names`` (the parameters the operation documents).

    Left alone, ``status=`` would mean "no filter" and ``order=1&order=2`` would
    silently use the last value; the schema allows neither, so the API refuses both.
    """
    errors = {}
    for name in names:
        values = request.query_params.getlist(name)
        if len(values) > 1:
            errors[name] = [REPEATED]
        elif values and values[0] == "":
            errors[name] = [EMPTY]
    if errors:
        raise ValidationError(errors)
