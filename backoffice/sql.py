"""Hand-written statements for the hot path of order intake, built from the models' own metadata.

The ORM compiles every query afresh. For a request that takes an order, that
compiling (and resolving the expressions of an ``UPDATE ... CASE``) cost
more CPU than PostgreSQL spent running the statements. The helpers here
write the same statements the ORM would, once per shape, and only bind new
values each time. Table and column names come from ``_meta``, so a renamed
field or table still lands in the right place, and values pass through each
field's own ``pre_save`` and ``get_db_prep_save``, as ``save()`` does.

What they skip is ``save()`` itself and the model signals. They are for
models that rely on neither: the callers say so. Everything else keeps
using the ORM.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model


@cache
def _insert_fields(model: type[Model], with_pk: bool) -> tuple:
    """The concrete fields an INSERT of ``model`` writes; the pk only when the caller supplies it."""
    meta = model._meta
    if any(f.has_db_default() for f in meta.concrete_fields):
        # A database default must be left out of the column list; the ORM does that, this does not.
        raise TypeError(f"{model.__name__} has database defaults; insert it with the ORM.")
    return tuple(f for f in meta.concrete_fields if not getattr(f, "generated", False) and (with_pk or not f.primary_key))


@cache
def _insert_sql(model: type[Model], with_pk: bool, rows: int, vendor: str) -> str:
    qn = connection.ops.quote_name
    meta = model._meta
    fields = _insert_fields(model, with_pk)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) VALUES {', '.join([row] * rows)}"
    if not with_pk:
        sql += f" RETURNING {qn(meta.pk.column)}"
    return sql


def rows_insert(objs: Sequence[Model]) -> None:
    """Insert ``objs``, new instances of one model, in one statement, and set their primary keys.

    What ``bulk_create`` does, at a fraction of its cost. Each field is
    written as ``save()`` would write it (``auto_now_add`` included); no
    signals are sent. Instances that carry a pk are inserted with it (all of
    them must, or none). A database that cannot return rows from a multi-row
    INSERT (SQLite before 3.35) gets one ``save()`` per instance instead.
    """
    if not objs:
        return
    db = connections[DEFAULT_DB_ALIAS]  # the connection itself: every use of the proxy is a lookup
    model = type(objs[0])
    with_pk = objs[0].pk is not None
    if any(type(obj) is not model or (obj.pk is not None) != with_pk for obj in objs):
        raise ValueError("rows_insert takes instances of one model, either all with a pk or all without.")
    if not db.features.can_return_rows_from_bulk_insert:  # e.g. SQLite before 3.35: no INSERT ... RETURNING
        for obj in objs:
            obj.save(force_insert=True, using=db.alias)
        return
    fields = _insert_fields(model, with_pk)
    sql = _insert_sql(model, with_pk, len(objs), db.vendor)
    params = [f.get_db_prep_save(f.pre_save(obj, True), db) for obj in objs for f in fields]
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        pks = None if with_pk else cursor.fetchall()
    for index, obj in enumerate(objs):
        if pks is not None:
            obj.pk = pks[index][0]
        obj._state.adding = False
        obj._state.db = db.alias


def columns(model: type[Model], alias: str) -> str:
    """``alias.column, ...`` for every concrete field of ``model``, in ``from_row``'s order."""
    return _columns(model, alias, connection.vendor)


@cache
def _columns(model: type[Model], alias: str, vendor: str) -> str:
    qn = connection.ops.quote_name
    return ", ".join(f"{alias}.{qn(f.column)}" for f in model._meta.concrete_fields)


@cache
def _attnames(model: type[Model]) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields)


def from_row(model: type[Model], row: Sequence, start: int = 0) -> Model:
    """The instance of ``model`` whose ``columns(model, ...)`` start at ``row[start]``, as the ORM would load it.

    Values are converted by the backend's and the fields' converters (e.g.
    SQLite's text dates into datetimes), as a queryset converts them.
    """
    db = connections[DEFAULT_DB_ALIAS]
    names = _attnames(model)
    values = list(row[start : start + len(names)])
    for index, field in enumerate(model._meta.concrete_fields):
        for converter in _converters(field, db.vendor):
            values[index] = converter(values[index], field, db)
    return model.from_db(db.alias, names, values)


@cache
def _converters(field, vendor: str) -> tuple:
    expression = field.get_col(field.model._meta.db_table)
    return tuple(connection.ops.get_db_converters(expression) + expression.get_db_converters(connection))


def fetch_all(sql: str, params: Iterable) -> list[tuple]:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def execute(sql: str, params: Iterable) -> int:
    """Run a write; return the number of rows it touched."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.rowcount


def placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def quote(name: str) -> str:
    return connection.ops.quote_name(name)
