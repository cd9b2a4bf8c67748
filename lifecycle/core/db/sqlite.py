"""SQLite's one writer at a time, and its write-ahead log: what the embedded default needs to keep up with
ingestion (lifecycle.settings has the connection's pragmas)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections

try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None  # type: ignore[assignment]


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
    if fcntl is None:  # Windows: SQLite's own busy handler queues the writers, only more slowly
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
