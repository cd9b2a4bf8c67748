"""Values as database drivers take and return them, for hand-written SQL and for reading many rows fast:
Django's per-value conversions cost more than the queries of analytics' answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connections


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
