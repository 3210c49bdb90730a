"""Keyset ("cursor") pagination for the partner API.

DRF's ``CursorPagination`` keys pages on the first ordering field only and
steps over ties with an offset, and it passes the decoded position straight
into a queryset filter, so a forged cursor can reach the database as a value
the field cannot parse. Partners page through thousands of orders that share
timestamps (a bulk import, a timer pass), so we key on *every* ordering field
instead: the cursor holds the last row's values of all of them and the next
page is "rows strictly after that tuple". With a unique last field (the pk)
that is exact: no row is skipped or repeated however many rows tie, and the
cost of a page does not grow with its depth.

Pages only go forward: partners sync by walking ``next`` until it is null.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from functools import reduce
from operator import and_, or_

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from core.api.filters import query_params_check

INVALID_CURSOR = "Invalid cursor; use the `next` link of a previous page."


class KeysetPagination(BasePagination):
    """Forward-only pages of ``settings.API_PAGE_SIZE`` rows in ``ordering``.

    Subclasses set ``ordering``: names of concrete, non-null fields of the
    paginated model, optionally prefixed with ``-``; the last one must be
    unique (use the pk) so that the order is total.
    """

    ordering: tuple[str, ...] = ("pk",)
    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset: QuerySet, request, view=None) -> list:
        self.request = request
        self.page_size = settings.API_PAGE_SIZE
        query_params_check(request, [self.cursor_query_param])
        meta = queryset.model._meta
        self._fields = [meta.pk if self._name(t) == "pk" else meta.get_field(self._name(t)) for t in self.ordering]
        queryset = queryset.order_by(*self.ordering)
        position = self._decode(request.query_params.get(self.cursor_query_param))
        if position is not None:
            queryset = queryset.filter(self._after(position))
        rows = list(queryset[: self.page_size + 1])
        self.has_next = len(rows) > self.page_size
        self.page = rows[: self.page_size]
        return self.page

    def get_paginated_response(self, data) -> Response:
        return Response({"next": self.get_next_link(), "results": data})

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        last = self.page[-1]
        values = [self._dump(getattr(last, field.attname)) for field in self._fields]
        token = base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode()
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, token)

    # --- OpenAPI (drf-spectacular reads these) ------------------------------------

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "description": "The next page, or null on the last page.",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "in": "query",
                "required": False,
                "description": "Opaque position from a previous page's `next` link.",
                "schema": {"type": "string", "minLength": 1},
            }
        ]

    # --- cursor encoding -----------------------------------------------------------

    @staticmethod
    def _name(term: str) -> str:
        return term.lstrip("-")

    @staticmethod
    def _dump(value):
        return value.isoformat() if isinstance(value, datetime) else value

    def _decode(self, token: str | None) -> list | None:
        """Turn a cursor back into one typed value per ordering field, or answer 400."""
        if token is None:
            return None
        try:
            raw = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
            if not isinstance(raw, list) or len(raw) != len(self._fields):
                raise ValueError("wrong shape")
            values = []
            for field, value in zip(self._fields, raw, strict=True):
                if not isinstance(value, (str, int)) or isinstance(value, bool):
                    raise ValueError("wrong type")
                parsed = field.to_python(value)
                if parsed is None or (isinstance(parsed, datetime) and timezone.is_naive(parsed)):
                    raise ValueError("not a position")
                if isinstance(parsed, datetime):
                    # A forged offset PostgreSQL refuses (beyond ±15:59) must not reach the query.
                    parsed = parsed.astimezone(UTC)
                field.run_validators(parsed)  # e.g. an id beyond the column's range
                values.append(parsed)
        except (ValueError, UnicodeError, binascii.Error, DjangoValidationError, OverflowError, RecursionError):
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]}) from None
        return values

    def _after(self, position: list) -> Q:
        """Rows strictly after ``position`` in ``ordering``: a lexicographic tuple comparison."""
        branches = []
        for i, term in enumerate(self.ordering):
            name = self._name(term)
            lookup = "lt" if term.startswith("-") else "gt"
            ties = [Q(**{self._name(t): v}) for t, v in zip(self.ordering[:i], position[:i], strict=True)]
            branches.append(reduce(and_, [*ties, Q(**{f"{name}__{lookup}": position[i]})]))
        return reduce(or_, branches)


def filtered_page_response(view, request, *, filterset_class, queryset: QuerySet, serializer_class) -> Response:
    """One page of ``queryset`` narrowed by ``filterset_class`` from the query string, serialized.

    The list endpoints' common body: bad filter values are a 400 with field
    errors (never a 500), and the page is cut with ``view.pagination_class``.
    """
    query_params_check(request, filterset_class.base_filters)
    filters = filterset_class(request.query_params, queryset=queryset)
    if not filters.is_valid():
        raise ValidationError({name: list(messages) for name, messages in filters.errors.items()})
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(filters.qs, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
