"""One read snapshot for answers built from several queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
            yield
        return
    conn.ensure_connection()
    raw = conn.connection
    raw.execute("BEGIN DEFERRED")
    try:
        yield
    finally:
        raw.execute("COMMIT")
