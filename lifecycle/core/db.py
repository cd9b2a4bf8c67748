"""Hand-written SQL for the hot path (token lookup, active version lookup), on the driver's own cursor.

Django's cursor wrapper costs about as much as the indexed SQLite lookup it runs (formatting the query,
wrapping the cursor, converting the placeholders on every call). These few queries run on every render,
so they skip it. They stay visible where Django shows queries (`connection.queries`, query-count tests),
and a database error still marks the connection broken so that Django replaces it.

Also the bulk helpers of analytics' ingestion and rollups: a multi-row INSERT ... ON CONFLICT (within the
connection's parameter limit, max_query_params), driver values in and out (driver_values, driver_rows,
plain_rows, as_uuid), SQLite's one-writer queue and WAL checkpoint, and one read snapshot for answers
built from several queries.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

QuoteName = Callable[[str], str]


class OneRowQuery:
    """A query written once per database vendor, that returns its first row (or None)."""

    def __init__(self, build_sql: Callable[[QuoteName], str]) -> None:
        # build_sql(quote_name) returns the query with %s placeholders.
        self._build_sql = build_sql
        self._sql: dict[str, str] = {}

    def sql(self, conn: BaseDatabaseWrapper) -> str:
        sql = self._sql.get(conn.vendor)
        if sql is None:
            sql = self._build_sql(conn.ops.quote_name)
            if conn.vendor == "sqlite":  # sqlite3's placeholders are ?, psycopg's are %s
                sql = sql.replace("%s", "?")
            self._sql[conn.vendor] = sql
        return sql

    def __call__(self, *params: Any) -> tuple[Any, ...] | None:
        # One lookup of the connection: every attribute read through django.db.connection costs another.
        conn = connections[DEFAULT_DB_ALIAS]
        sql = self.sql(conn)
        if conn.connection is None:
            conn.ensure_connection()
        started = time.perf_counter()
        with conn.wrap_database_errors:
            cursor = conn.connection.cursor()
            try:
                cursor.execute(sql, params)
                row = cursor.fetchone()
            finally:
                cursor.close()
        if conn.queries_logged:
            conn.queries_log.append({"sql": f"{sql} -- {params!r}", "time": f"{time.perf_counter() - started:.3f}"})
        return row


def _base_type(db_type: str | None) -> str:
    """`varchar(20)` -> `varchar`: an array's element type without its length."""
    assert db_type is not None
    return db_type.split("(")[0]


def column_of(model: type[models.Model], field_name: str) -> str:
    """The database column of a model's concrete field, for hand-written SQL."""
    field = model._meta.get_field(field_name)
    assert isinstance(field, models.Field)
    assert field.column is not None
    return field.column


def uuid_param(value: UUID) -> UUID | str:
    """A UUID as the database driver takes it: native on PostgreSQL, 32 hex digits on SQLite."""
    return value if connections[DEFAULT_DB_ALIAS].features.has_native_uuid_field else value.hex


def driver_values() -> Callable[[Any], Any]:
    """A converter of values to what the driver takes (UUIDs as 32 hex digits on SQLite, datetimes as Django
    stores them), for hand-written SQL, which gets no conversion from Django. It remembers what it
    converted: bulk statements repeat the same hours and ids thousands of times. One per statement batch."""
    conn = connections[DEFAULT_DB_ALIAS]
    adapt_time, native_uuid = conn.ops.adapt_datetimefield_value, conn.features.has_native_uuid_field
    known: dict[Any, Any] = {}

    def driver_value(value: Any) -> Any:
        converted: Any = known.get(value, known)  # (known itself: not converted yet; a miss costs no exception)
        if converted is not known:
            return converted
        if isinstance(value, UUID):
            converted = value if native_uuid else value.hex
        elif isinstance(value, datetime):
            converted = adapt_time(value)
        else:
            converted = value
        known[value] = converted
        return converted

    return driver_value


def _chunks(query: Any) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
    """Run a queryset's SQL on Django's cursor; its column names with each chunk of rows, as the driver returns them."""
    sql, params = query.query.sql_with_params()
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        while chunk := cursor.fetchmany(5000):
            yield names, chunk


def driver_rows(query: Any) -> Iterator[tuple[Any, ...]]:
    """A queryset's rows as the driver returns them, plain tuples in its SELECT order: Django's per-value
    converters skipped, which over many rows cost more than the query. UUIDs come back as text on
    SQLite, times as naive UTC there."""
    for _, chunk in _chunks(query):
        yield from chunk


def plain_rows(query: Any) -> Iterator[dict[str, Any]]:
    """A values() queryset's rows as driver_rows returns them, as dicts by column name."""
    for names, chunk in _chunks(query):
        for row in chunk:
            yield dict(zip(names, row, strict=True))


_UUIDS: dict[Any, UUID] = {}


def as_uuid(value: Any) -> UUID:
    """A UUID column's value as the driver returned it (text on SQLite), as a UUID; remembered (bounded)."""
    if isinstance(value, UUID):
        return value
    found = _UUIDS.get(value)
    if found is None:
        if len(_UUIDS) > 100_000:
            _UUIDS.clear()
        found = _UUIDS[value] = UUID(value)
    return found


def fetch_one_query(build_sql: Callable[[QuoteName], str]) -> OneRowQuery:
    return OneRowQuery(build_sql)


# PostgreSQL's wire protocol counts a statement's parameters in 16 bits.
_POSTGRESQL_MAX_PARAMS = 65_535


def max_query_params(conn: BaseDatabaseWrapper | None = None) -> int:
    """How many parameters one statement may have on this connection, for statements built by hand.

    SQLite: the connection's own limit (SQLITE_LIMIT_VARIABLE_NUMBER: 32,766 by default since 3.32, but
    set when SQLite is built, and lowerable per connection), not Django's fixed, cautious 999.
    """
    conn = conn or connections[DEFAULT_DB_ALIAS]
    if conn.vendor == "sqlite":
        import sqlite3

        conn.ensure_connection()
        return int(conn.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    if conn.vendor == "postgresql":
        return _POSTGRESQL_MAX_PARAMS
    return conn.features.max_query_params or _POSTGRESQL_MAX_PARAMS


def insert_ignoring_conflicts(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    conflict_columns: Sequence[str],
    returning: str,
) -> list[Any]:
    """INSERT rows (values for the model's `columns`, in the driver's form), skipping those that conflict
    on the unique `conflict_columns`; the `returning` column of those inserted. For bulk writes on a hot
    path (analytics ingestion), so each database gets its fastest way:

    PostgreSQL: INSERT ... SELECT FROM unnest(one array per column): one small statement whatever the
    number of rows (a multi-row VALUES of thousands of parameters costs psycopg more to parse than the
    database takes to insert). SQLite: multi-row VALUES statements, as many rows each as the connection's
    parameter limit allows (one statement for a batch of 1,000 executions at the default limit).

    All or nothing: the statements run in one transaction (the caller's, if it has one).
    """
    table = model._meta.db_table
    conn = connections[DEFAULT_DB_ALIAS]
    qn = conn.ops.quote_name
    if conn.connection is None:
        conn.ensure_connection()
    column_sql = ", ".join(qn(column) for column in columns)
    conflict_sql = ", ".join(qn(column) for column in conflict_columns)
    suffix = f"ON CONFLICT ({conflict_sql}) DO NOTHING RETURNING {qn(returning)}"
    inserted: list[Any] = []
    with transaction.atomic(savepoint=False), conn.wrap_database_errors:
        if conn.vendor == "postgresql":
            import psycopg

            fields = {field.column: field for field in model._meta.concrete_fields}
            # %b: parameters sent in binary, without escaping each string as text arrays would need.
            arrays = ", ".join(f"%b::{_base_type(fields[column].db_type(conn))}[]" for column in columns)
            sql = f"INSERT INTO {qn(table)} ({column_sql}) SELECT * FROM unnest({arrays}) {suffix}"
            started = time.perf_counter()
            with psycopg.Cursor(conn.connection) as cursor:
                cursor.execute(sql, [list(values) for values in zip(*rows, strict=True)])
                inserted = [row[0] for row in cursor.fetchall()]
            _log(conn, table, len(rows), started)
        else:
            per_statement = max(1, max_query_params(conn) // len(columns))
            row_sql = "(" + ", ".join(["?"] * len(columns)) + ")"
            cursor = conn.connection.cursor()
            try:
                for offset in range(0, len(rows), per_statement):
                    chunk = rows[offset : offset + per_statement]
                    values_sql = ", ".join([row_sql] * len(chunk))
                    sql = f"INSERT INTO {qn(table)} ({column_sql}) VALUES {values_sql} {suffix}"
                    started = time.perf_counter()
                    cursor.execute(sql, [value for row in chunk for value in row])
                    inserted += [row[0] for row in cursor.fetchall()]
                    _log(conn, table, len(chunk), started)
            finally:
                cursor.close()
    return inserted


def _log(conn: BaseDatabaseWrapper, table: str, rows: int, started: float) -> None:
    """A statement run on the driver's cursor, where Django shows the queries it ran itself."""
    if conn.queries_logged:
        conn.queries_log.append(
            {"sql": f"INSERT INTO {table} ... ({rows} rows)", "time": f"{time.perf_counter() - started:.3f}"}
        )


@contextmanager
def one_snapshot() -> Iterator[None]:
    """Run the block's reads against one snapshot of the database, as if no write happened meanwhile.

    For answers assembled from several queries over data that a worker moves between tables (analytics:
    pending executions folded into rollups): each query alone is consistent, but without one snapshot a
    move committed between two queries would be counted twice or not at all.
    PostgreSQL: a REPEATABLE READ, READ ONLY transaction. SQLite (WAL): a deferred transaction, which
    reads one snapshot without taking the write lock (Django's atomic() would, with transaction_mode
    IMMEDIATE). Inside an existing transaction (tests), that transaction's view is kept.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.in_atomic_block:
        yield
        return
    if conn.vendor == "postgresql":
        with transaction.atomic():
            with conn.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield
        return
    conn.ensure_connection()
    raw = conn.connection
    raw.execute("BEGIN DEFERRED")
    try:
        yield
    finally:
        raw.execute("COMMIT")


@contextmanager
def one_writer_at_a_time() -> Iterator[None]:
    """On SQLite, queue the block behind other processes' blocks on an OS file lock; elsewhere, nothing.

    SQLite lets one transaction write at a time. A writer that finds the lock taken waits in SQLite's busy
    handler, which sleeps in growing steps (up to 100 ms) and so wakes long after the lock is free: under
    steady ingestion most of the time goes to sleeping. Waiting on flock instead, each writer wakes the
    moment the one before it is done. Wrap the whole write transaction, lock first.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    name = str(conn.settings_dict.get("NAME") or "")
    if conn.vendor != "sqlite" or not name or name.startswith(("file:", ":memory:")):
        yield
        return
    with open(f"{name}.writer-lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def checkpoint() -> None:
    """SQLite: copy what the WAL holds into the database file now (PASSIVE: without waiting for, or
    blocking, readers and writers). Run by the worker outside the write lock, so that ingestion's commits
    do not do it while holding the lock (settings: wal_autocheckpoint). Elsewhere, or inside a
    transaction (which SQLite refuses to checkpoint from): nothing."""
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "sqlite" or conn.in_atomic_block:
        return
    conn.ensure_connection()
    conn.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
