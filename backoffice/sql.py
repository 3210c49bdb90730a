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

Statements that do not depend on each other's results can be sent together
(``run``): on PostgreSQL they then travel in one message and cost one round
trip, where each would otherwise cost the client, the server and the kernel
a request and an answer of their own. Elsewhere they run one after another.

On PostgreSQL, where the connection allows prepared statements
(``DATABASE_PREPARED_STATEMENTS``), ``run`` also has the server prepare each
statement once a connection has used it a few times: the server then skips
parsing and planning it again, which for intake's statements cost more than
running them. The ORM's own queries are never prepared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from functools import cache
from typing import Any, NamedTuple

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.utils import CursorDebugWrapper
from django.db.models import Model

try:  # psycopg 3: a client-side binding cursor sends a query as text, several statements at once
    from psycopg import ClientCursor as _ClientCursor
    from psycopg import Cursor as _ServerCursor
except ImportError:  # pragma: no cover - psycopg 3 is a requirement; other drivers run statements singly
    _ClientCursor = _ServerCursor = None


class Statement:
    """One statement for ``run``: its SQL, its parameters, and how to read its outcome.

    ``read(cursor)`` is called with the cursor positioned on this statement's
    result; what it returns becomes ``result`` (by default the row count). A
    statement without SQL stands for work that cannot be one statement on
    this database: ``run`` calls ``fallback()`` in its place, in order.
    """

    __slots__ = ("sql", "params", "read", "fallback", "result")

    def __init__(
        self,
        sql: str | None,
        params: Sequence = (),
        read: Callable[[Any], Any] | None = None,
        fallback: Callable[[], Any] | None = None,
    ):
        self.sql, self.params, self.read, self.fallback = sql, list(params), read, fallback
        self.result = None

    def finish(self, cursor) -> None:
        self.result = self.read(cursor) if self.read is not None else cursor.rowcount


def run(*statements: Statement | None) -> None:
    """Run ``statements`` in order (``None`` entries are skipped) and set each one's ``result``.

    Where the driver can, the statements go to the database as one message
    (one round trip); otherwise one by one. Either way they run in order,
    the first error raises as it would have from that statement alone, and
    the ones after it do not run. Inside ``transaction.atomic()`` they are
    all part of the caller's transaction. Statements may not depend on each
    other's results: ``run`` them in turn for that.
    """
    db = connections[DEFAULT_DB_ALIAS]
    pending: list[Statement] = []
    with db.cursor() as cursor:
        for statement in statements:
            if statement is None:
                continue
            if statement.sql is None:
                _send(db, cursor, pending)
                pending = []
                statement.result = statement.fallback()
            else:
                pending.append(statement)
        _send(db, cursor, pending)


def _send(db, cursor, statements: list[Statement]) -> None:
    if not statements:
        return
    psycopg_client = _ClientCursor is not None and isinstance(cursor.cursor, _ClientCursor)
    if psycopg_client and cursor.cursor.connection.prepare_threshold is not None:
        _send_prepared(db, cursor, statements)
    elif psycopg_client and len(statements) > 1:
        # Client-side binding sends plain query text (the simple query protocol), which may
        # hold several statements; psycopg keeps one result per statement (``nextset``).
        cursor.execute("; ".join(s.sql for s in statements), [p for s in statements for p in s.params])
        for index, statement in enumerate(statements):
            if index:
                cursor.nextset()
            statement.finish(cursor)
    else:
        for statement in statements:
            cursor.execute(statement.sql, statement.params)
            statement.finish(cursor)


def _send_prepared(db, cursor, statements: list[Statement]) -> None:
    """Send ``statements`` with server-side binding, in one round trip (psycopg's pipeline mode).

    A statement text can only be prepared on its own, so the statements are
    not joined into one query text: each gets its own server-binding cursor,
    and the pipeline sends them all before reading any answer. psycopg
    prepares a statement once the connection has run it ``prepare_threshold``
    times. The first error raises when the answers are read, and the server
    skips the statements after it, as with one query text.

    To Django the batch is one query: ``cursor``'s execute wrappers see it,
    and the query log (``DEBUG``, the tests' query counts) records it, as the
    statements joined.
    """
    pg = cursor.cursor.connection
    sent: list = []

    def execute(sql, params, many, context):
        db.validate_no_broken_transaction()
        with db.wrap_database_errors, pg.pipeline() if len(statements) > 1 else nullcontext():
            for statement in statements:
                server_cursor = _ServerCursor(pg)
                server_cursor.execute(statement.sql, statement.params)
                sent.append(server_cursor)

    joined = "; ".join(s.sql for s in statements)
    params = [p for s in statements for p in s.params]
    if isinstance(cursor, CursorDebugWrapper):
        with cursor.debug_sql(joined, params):
            cursor._execute_with_wrappers(joined, params, many=False, executor=execute)
    else:
        cursor._execute_with_wrappers(joined, params, many=False, executor=execute)
    for statement, server_cursor in zip(statements, sent, strict=True):
        statement.finish(server_cursor)
        server_cursor.close()


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
    run(insert(objs))


def insert(objs: Sequence[Model]) -> Statement | None:
    """``rows_insert(objs)`` as a statement for ``run`` (None when there is nothing to insert).

    Values are taken from the instances now; their pks are set when it runs.
    """
    if not objs:
        return None
    db = connections[DEFAULT_DB_ALIAS]  # the connection itself: every use of the proxy is a lookup
    model = type(objs[0])
    with_pk = objs[0].pk is not None
    if any(type(obj) is not model or (obj.pk is not None) != with_pk for obj in objs):
        raise ValueError("rows_insert takes instances of one model, either all with a pk or all without.")
    if not db.features.can_return_rows_from_bulk_insert:  # e.g. SQLite before 3.35: no INSERT ... RETURNING
        return Statement(None, fallback=lambda: [obj.save(force_insert=True, using=db.alias) for obj in objs])
    fields = _insert_fields(model, with_pk)
    params = [f.get_db_prep_save(f.pre_save(obj, True), db) for obj in objs for f in fields]

    def read(cursor) -> None:
        pks = None if with_pk else cursor.fetchall()
        for index, obj in enumerate(objs):
            if pks is not None:
                obj.pk = pks[index][0]
            obj._state.adding = False
            obj._state.db = db.alias

    return Statement(_insert_sql(model, with_pk, len(objs), db.vendor), params, read)


class Expression(NamedTuple):
    """A piece of SQL that stands for a value (e.g. a scalar subquery), with its parameters."""

    sql: str
    params: tuple = ()


def insert_from(obj: Model, *, computed: dict[str, str], source: str, params: Sequence) -> Statement:
    """An INSERT of ``obj``, a new instance, whose ``computed`` fields come from a query.

    ``computed`` maps attnames to SQL expressions over ``source``, the rest of
    a SELECT (``FROM ... WHERE ...``, with ``params``) that finds at most one
    row. The statement is ``INSERT ... SELECT``: when ``source`` finds no row,
    nothing is written. Its ``result`` tells which: True, with the instance's
    pk and computed fields set, or False. Every other field is written as
    ``insert`` writes it (``pre_save`` and ``get_db_prep_save``).
    """
    db = connections[DEFAULT_DB_ALIAS]
    model = type(obj)
    if obj.pk is not None:
        raise ValueError("insert_from takes a new instance without a pk.")
    fields = _insert_fields(model, False)
    if unknown := computed.keys() - {f.attname for f in fields}:
        raise ValueError(f"{model.__name__} has no insertable field(s) {', '.join(sorted(unknown))}.")
    values = [f.get_db_prep_save(f.pre_save(obj, True), db) for f in fields if f.attname not in computed]
    returned = _insert_from_returned(model, frozenset(computed))

    def store(fields, row) -> None:
        for field, value in zip(fields, row):
            for converter in _converters(field, db.vendor):
                value = converter(value, field, db)
            setattr(obj, field.attname, value)

    def read(cursor) -> bool:
        row = cursor.fetchone()
        if row is None:
            return False
        store(returned, row)
        obj._state.adding = False
        obj._state.db = db.alias
        return True

    if db.features.can_return_rows_from_bulk_insert:  # INSERT ... RETURNING
        return Statement(_insert_from_sql(model, tuple(computed.items()), source, db.vendor), [*values, *params], read)

    def without_returning() -> bool:
        # Read the computed values first, then save() as ``rows_insert`` does without RETURNING.
        computed_fields = returned[1:]
        select = ", ".join(computed[f.attname] for f in computed_fields)
        with db.cursor() as cursor:
            cursor.execute(f"SELECT {select} {source}", list(params))
            row = cursor.fetchone()
        if row is None:
            return False
        store(computed_fields, row)
        obj.save(force_insert=True, using=db.alias)
        return True

    return Statement(None, fallback=without_returning)


@cache
def _insert_from_returned(model: type[Model], computed: frozenset) -> tuple:
    """What ``insert_from`` reads back: the pk, then the computed fields in column order."""
    return (model._meta.pk, *(f for f in _insert_fields(model, False) if f.attname in computed))


@cache
def _insert_from_sql(model: type[Model], computed: tuple, source: str, vendor: str) -> str:
    qn = connection.ops.quote_name
    expressions = dict(computed)
    fields = _insert_fields(model, False)
    returned = _insert_from_returned(model, frozenset(expressions))
    return (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)})"
        f" SELECT {', '.join(expressions.get(f.attname, '%s') for f in fields)} {source}"
        f" RETURNING {', '.join(qn(f.column) for f in returned)}"
    )


def next_pks(model: type[Model], count: int) -> Statement | None:
    """``count`` new primary keys for ``model`` drawn from its sequence, as a statement for ``run``.

    Its ``result`` is the list of keys, for instances that ``insert`` then
    writes with their keys: they can travel with statements that refer to
    them, instead of waiting for an INSERT ... RETURNING. None on a database
    without sequences (SQLite): there, insert without keys and read them back.
    """
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or count < 1:
        return None
    meta = model._meta
    return Statement(
        "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
        [connection.ops.quote_name(meta.db_table), meta.pk.column, count],
        lambda cursor: [row[0] for row in cursor.fetchall()],
    )


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


def placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def quote(name: str) -> str:
    return connection.ops.quote_name(name)
