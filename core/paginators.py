"""Paginators and counts for lists over tables that only grow (orders, parcels, history).

Django's ``Paginator`` runs ``SELECT COUNT(*)`` over everything the list
matches, on every page view. With a million orders that count reads the whole
table (or the whole index) although the page shows 25 rows. What these offer
instead, measured in ``bench/lists.py``:

* ``BoundedCountPaginator`` counts at most ``bound`` rows
  (``SELECT COUNT(*) FROM (SELECT ... LIMIT bound + 1)``): exact up to the
  bound, "more than ``bound``" past it, with pages up to the bound.
* ``EstimatedCountPaginator`` does the same for a filtered list, and for an
  unfiltered one takes PostgreSQL's own estimate of the table's rows
  (``pg_class.reltuples``, kept by autovacuum and ``ANALYZE``) once the table
  is past the bound. Other databases (SQLite) have no such estimate: they
  fall back to the bounded count.
* ``bounded_count`` and ``bounded_label`` do it for a single number ("99+"),
  and ``BoundedCount`` is the same count as an expression, so several go in one query.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import IntegerField, QuerySet, Subquery
from django.utils.functional import cached_property


def bounded_count(queryset: QuerySet, bound: int) -> int:
    """The number of rows ``queryset`` matches, counting no further than ``bound + 1``.

    A result above ``bound`` means "more than ``bound``"; the query reads at most
    ``bound + 1`` rows whatever the table's size.
    """
    # Without the ordering the database stops at the first ``bound + 1`` matches it meets;
    # with it, a sort the indexes do not serve would read every match first.
    return queryset.order_by()[: bound + 1].count()


class BoundedCount(Subquery):
    """``(SELECT COUNT(*) FROM (<queryset>))`` as an expression: the count of a sliced queryset.

    Slice the queryset (``qs.order_by()[: bound + 1]``) and the database reads at most that many rows.
    """

    template = "(SELECT COUNT(*) FROM (%(subquery)s) AS bounded_count)"
    output_field = IntegerField()


def bounded_label(count: int, bound: int) -> str:
    """``count`` for display: ``"99+"`` once it is past ``bound`` (99)."""
    return f"{bound}+" if count > bound else str(count)


def table_estimate(queryset: QuerySet) -> int | None:
    """PostgreSQL's estimate of the rows in ``queryset``'s table, or None where there is none.

    None on other databases, and for a table never analysed (``reltuples`` is -1 then).
    """
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [connection.ops.quote_name(queryset.model._meta.db_table)],
        )
        row = cursor.fetchone()
    return row[0] if row and row[0] >= 0 else None


class BoundedCountPaginator(Paginator):
    """A paginator whose count stops at ``bound`` rows.

    ``count`` is exact up to ``bound``; past it ``count`` is ``bound`` and
    ``count_is_bounded`` is true, so the pages reach the first ``bound`` rows
    of the list's order and a template says "more than ``bound``". Use it with
    an ordering an index serves, or the database still sorts every match.
    """

    bound = 5_000

    def __init__(self, object_list, per_page, orphans=0, allow_empty_first_page=True, *, bound: int | None = None):
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        if bound is not None:
            self.bound = bound
        self._bounded = self._estimated = False

    @property
    def count_is_bounded(self) -> bool:
        """True when the list holds more than ``count`` rows (``count`` is the bound)."""
        return self.count is not None and self._bounded

    @property
    def count_is_estimate(self) -> bool:
        """True when ``count`` is the database's estimate, not a count."""
        return self.count is not None and self._estimated

    @cached_property
    def count(self) -> int:
        if not isinstance(self.object_list, QuerySet):
            return super().count
        found = bounded_count(self.object_list, self.bound)
        self._bounded = found > self.bound
        return min(found, self.bound)


class EstimatedCountPaginator(BoundedCountPaginator):
    """``BoundedCountPaginator``, except that an unfiltered list of a big table is counted by PostgreSQL's
    estimate (``count_is_estimate``), so every page of it can be reached."""

    @cached_property
    def count(self) -> int:
        if isinstance(self.object_list, QuerySet) and not self.object_list.query.where:
            estimate = table_estimate(self.object_list)
            if estimate is not None and estimate > self.bound:
                self._estimated = True
                return estimate
        return super().count
