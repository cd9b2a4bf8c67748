from __future__ import annotations

from datetime import UTC, datetime

import pytest


@pytest.fixture
def analyst(make_user):
    return make_user("analyst", username="ana")


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def parameter_limit():
    """lower(n): the SQLite connection takes at most n parameters a statement, until the test ends."""
    import sqlite3

    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's limit is fixed (65,535 parameters), far above any statement built here")
    connection.ensure_connection()
    raw = connection.connection
    original = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    yield lambda limit: raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, original)
