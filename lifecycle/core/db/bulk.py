"""Bulk writes written by hand for analytics' ingestion and roll-ups: a multi-row INSERT ... ON CONFLICT,
within the connection's parameter limit (max_query_params)."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from lifecycle.core.db.encrypted import EncryptedTextField
from lifecycle.core.db.lookups import execute


def _base_type(db_type: str | None) -> str:
    """`varchar(20)` -> `varchar`: an array's element type without its length."""
    assert db_type is not None
    return db_type.split("(")[0]


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
    conflict_columns: Sequence[str] | None,
    returning: str | None,
) -> list[Any]:
    """INSERT rows (values for the model's `columns`, in the driver's form), skipping those that conflict
    on the unique `conflict_columns` (None: a plain INSERT); the `returning` column of those inserted (None:
    nothing returned, an empty list). For bulk writes on a hot
    path (analytics ingestion), so each database gets its fastest way:

    PostgreSQL: INSERT ... SELECT FROM unnest(one array per column): one small statement whatever the
    number of rows (a multi-row VALUES of thousands of parameters costs psycopg more to parse than the
    database takes to insert). SQLite: multi-row VALUES statements, as many rows each as the connection's
    parameter limit allows (one statement for a batch of 1,000 executions at the default limit).

    Values of encrypted columns (lifecycle.core.db.encrypted) are given plain and stored as the field
    stores them (encrypted when it encrypts now): a hand-written write must not be the way around it.

    All or nothing: the statements run in one transaction (the caller's, if it has one).
    """
    table = model._meta.db_table
    conn = connections[DEFAULT_DB_ALIAS]
    rows = _encoded(model, columns, rows)
    qn = conn.ops.quote_name
    if conn.connection is None:
        conn.ensure_connection()
    column_sql = ", ".join(qn(column) for column in columns)
    suffix = ""
    if conflict_columns is not None:
        suffix += f" ON CONFLICT ({', '.join(qn(column) for column in conflict_columns)}) DO NOTHING"
    if returning is not None:
        suffix += f" RETURNING {qn(returning)}"
    inserted: list[Any] = []
    with transaction.atomic(savepoint=False), conn.wrap_database_errors:
        if conn.vendor == "postgresql":
            import psycopg

            fields = {field.column: field for field in model._meta.concrete_fields}
            # %b: parameters sent in binary, without escaping each string as text arrays would need.
            arrays = ", ".join(f"%b::{_base_type(fields[column].db_type(conn))}[]" for column in columns)
            sql = f"INSERT INTO {qn(table)} ({column_sql}) SELECT * FROM unnest({arrays}){suffix}"
            started = time.perf_counter()
            with psycopg.Cursor(conn.connection) as cursor:
                execute(conn, cursor, sql, [list(values) for values in zip(*rows, strict=True)])
                if returning is not None:
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
                    sql = f"INSERT INTO {qn(table)} ({column_sql}) VALUES {values_sql}{suffix}"
                    started = time.perf_counter()
                    execute(conn, cursor, sql, [value for row in chunk for value in row])
                    if returning is not None:
                        inserted += [row[0] for row in cursor.fetchall()]
                    _log(conn, table, len(chunk), started)
            finally:
                cursor.close()
    return inserted


@functools.cache
def _encrypted_fields(model: type[models.Model], columns: tuple[str, ...]) -> list[tuple[int, EncryptedTextField]]:
    """The encrypted fields among the columns, with their positions (a model's fields never change)."""
    fields = {field.column: field for field in model._meta.concrete_fields}
    return [
        (position, field)
        for position, column in enumerate(columns)
        if isinstance(field := fields[column], EncryptedTextField)
    ]


def _encoded(
    model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> Sequence[Sequence[Any]]:
    """The rows with each encrypted column's values as that field stores them now (the rows themselves when
    the model has no encrypted column)."""
    encoders = [(position, field.storage_encoder()) for position, field in _encrypted_fields(model, tuple(columns))]
    if not encoders:
        return rows
    encoded: list[Sequence[Any]] = []
    for row in rows:
        values: list[Any] | None = None  # copied only when a value changes (stored plain, values rarely do)
        for position, encoder in encoders:
            value = row[position]
            stored = encoder(value)
            if stored is not value:
                if values is None:
                    values = list(row)
                values[position] = stored
        encoded.append(row if values is None else values)
    return encoded


def _log(conn: BaseDatabaseWrapper, table: str, rows: int, started: float) -> None:
    """A statement run on the driver's cursor, where Django shows the queries it ran itself."""
    if conn.queries_logged:
        conn.queries_log.append(
            {"sql": f"INSERT INTO {table} ... ({rows} rows)", "time": f"{time.perf_counter() - started:.3f}"}
        )
