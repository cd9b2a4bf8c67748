"""Hand-written SQL for the hot path (token lookup, active version lookup), on the driver's own cursor.

Django's cursor wrapper costs about as much as the indexed SQLite lookup it runs (formatting the query,
wrapping the cursor, converting the placeholders on every call). These few queries run on every render,
so they skip it. They stay visible where Django shows queries (`connection.queries`, query-count tests)
and to its execute wrappers (APM tools), and a database error still marks the connection broken so that
Django replaces it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

QuoteName = Callable[[str], str]


def execute(conn: BaseDatabaseWrapper, cursor: Any, sql: str, params: Any) -> Any:
    """`cursor.execute(sql, params)` on a driver's cursor, through the connection's execute wrappers
    (`connection.execute_wrapper`: what APM tools such as Sentry or OpenTelemetry install to see queries), as
    Django's own cursor would. Without wrappers (the usual case) it costs nothing more than the call."""
    if not conn.execute_wrappers:
        return cursor.execute(sql, params)

    def run(sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        return cursor.execute(sql, params)

    executor: Callable[..., Any] = run
    for wrapper in reversed(conn.execute_wrappers):
        executor = functools.partial(wrapper, executor)
    return executor(sql, params, False, {"connection": conn, "cursor": cursor})


class OneRowQuery:
    """A query written once per database vendor, that returns its first row (or None; `all_rows` for all)."""

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
        rows = self._run(params, first_only=True)
        return rows[0] if rows else None

    def all_rows(self, *params: Any) -> list[tuple[Any, ...]]:
        """Every row of the query (for the few short lists a hot path reads, such as a user's roles)."""
        return self._run(params, first_only=False)

    def _run(self, params: tuple[Any, ...], *, first_only: bool) -> list[tuple[Any, ...]]:
        # One lookup of the connection: every attribute read through django.db.connection costs another.
        conn = connections[DEFAULT_DB_ALIAS]
        sql = self.sql(conn)
        if conn.connection is None:
            conn.ensure_connection()
        started = time.perf_counter()
        with conn.wrap_database_errors:
            cursor = conn.connection.cursor()
            try:
                execute(conn, cursor, sql, params)
                if first_only:
                    row = cursor.fetchone()
                    rows = [row] if row is not None else []
                else:
                    rows = cursor.fetchall()
            finally:
                cursor.close()
        if conn.queries_logged:
            conn.queries_log.append({"sql": f"{sql} -- {params!r}", "time": f"{time.perf_counter() - started:.3f}"})
        return rows


def fetch_one_query(build_sql: Callable[[QuoteName], str]) -> OneRowQuery:
    return OneRowQuery(build_sql)


def column_of(model: type[models.Model], field_name: str) -> str:
    """The database column of a model's concrete field, for hand-written SQL."""
    field = model._meta.get_field(field_name)
    assert isinstance(field, models.Field)
    assert field.column is not None
    return field.column


def uuid_param(value: UUID) -> UUID | str:
    """A UUID as the database driver takes it: native on PostgreSQL, 32 hex digits on SQLite."""
    return value if connections[DEFAULT_DB_ALIAS].features.has_native_uuid_field else value.hex
