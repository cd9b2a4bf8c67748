"""One read snapshot for answers built from several queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction


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
            with _marked(conn):
                yield
        return
    conn.ensure_connection()
    raw = conn.connection
    raw.execute("BEGIN DEFERRED")
    try:
        with _marked(conn):
            yield
    finally:
        raw.execute("COMMIT")


def reads_share_one_snapshot() -> bool:
    """Whether the reads made now see one snapshot, so that what one query found absent stays absent for
    the next: inside one_snapshot's own transaction, or inside any transaction on SQLite (Django's
    IMMEDIATE transactions hold the write lock: no one else commits meanwhile). Not inside another
    transaction on PostgreSQL, whose READ COMMITTED takes a snapshot per statement."""
    conn = connections[DEFAULT_DB_ALIAS]
    return getattr(conn, _MARK, False) or (conn.vendor == "sqlite" and conn.in_atomic_block)


_MARK = "_lifecycle_one_snapshot"


@contextmanager
def _marked(conn: Any) -> Iterator[None]:
    setattr(conn, _MARK, True)
    try:
        yield
    finally:
        setattr(conn, _MARK, False)
