"""Database errors: only "busy or unreachable" becomes a 503 "try again"; any other is a logged 500.

A 503 tells the client that nothing happened and that the same request will work shortly. For a
mistake in a query ("no such column") that is untrue, and it would hide the mistake from the logs.
"""

from __future__ import annotations

import logging
import sqlite3

import psycopg
import psycopg.errors
import pytest
from django.db import connection
from django.db import utils as django_db

from lifecycle.core.api.errors import database_unavailable, exception_handler

# Django's exception classes, in the order its DatabaseErrorWrapper matches a driver error against them.
_DJANGO_CLASSES = (
    "DataError",
    "OperationalError",
    "IntegrityError",
    "InternalError",
    "ProgrammingError",
    "NotSupportedError",
    "DatabaseError",
    "InterfaceError",
    "Error",
)


def as_django_raises_it(driver_error: Exception) -> django_db.Error:
    """The driver's error as Django raises it: its own class of the same name, the driver's as `__cause__`
    (what django.db.utils.DatabaseErrorWrapper does, for either driver whatever the test database)."""
    driver = psycopg if isinstance(driver_error, psycopg.Error) else sqlite3
    for name in _DJANGO_CLASSES:
        if isinstance(driver_error, getattr(driver, name)):
            wrapped = getattr(django_db, name)(*driver_error.args)
            wrapped.__cause__ = driver_error
            return wrapped
    raise AssertionError(f"not a driver error: {driver_error!r}")


BUSY = [
    sqlite3.OperationalError("database is locked"),
    sqlite3.OperationalError("database table is locked: analytics_execution"),
    sqlite3.OperationalError("unable to open database file"),
    sqlite3.OperationalError("disk I/O error"),
    psycopg.OperationalError("connection failed: Connection refused"),  # no SQLSTATE: the client's own
    psycopg.errors.ConnectionFailure(),  # 08006
    psycopg.errors.SerializationFailure(),  # 40001
    psycopg.errors.DeadlockDetected(),  # 40P01
    psycopg.errors.TooManyConnections(),  # 53300
    psycopg.errors.AdminShutdown(),  # 57P01
    psycopg.errors.CannotConnectNow(),  # 57P03
    psycopg.errors.LockNotAvailable(),  # 55P03
]

BUGS = [
    sqlite3.OperationalError("no such column: executions.nope"),
    sqlite3.OperationalError("no such table: analytics_nope"),
    sqlite3.OperationalError("too many SQL variables"),
    sqlite3.OperationalError('near "SELEC": syntax error'),
    sqlite3.IntegrityError("UNIQUE constraint failed: analytics_execution.id"),
    psycopg.errors.UndefinedColumn(),  # 42703
    psycopg.errors.UndefinedTable(),  # 42P01
    psycopg.errors.SyntaxError(),  # 42601
    psycopg.errors.UniqueViolation(),  # 23505
    psycopg.errors.QueryCanceled(),  # 57014: a statement timeout, not the server going away
    psycopg.ProgrammingError("the query has 1 placeholder but 2 parameters were passed"),  # no SQLSTATE
]


@pytest.mark.parametrize("driver_error", BUSY, ids=repr)
def test_exception_handler__lock_busy_or_connection_error__503_try_again(driver_error):
    # Given the database is busy or unreachable, as Django raises it
    error = as_django_raises_it(driver_error)
    # When the handler shapes it
    response = exception_handler(error, {})
    # Then the client is told to try again
    assert database_unavailable(error)
    assert response is not None
    assert response.status_code == 503
    assert response.data["error"]["code"] == "unavailable"
    assert response["Retry-After"] == "1"


@pytest.mark.parametrize("driver_error", BUGS, ids=repr)
def test_exception_handler__any_other_database_error__left_to_djangos_500(driver_error):
    # Given a database error that a retry would not mend
    error = as_django_raises_it(driver_error)
    # Then the handler does not shape it: Django answers 500 and logs it
    assert not database_unavailable(error)
    assert exception_handler(error, {}) is None


def test_exception_handler__busy_error_raised_with_words_only__503():
    # Django's OperationalError raised by our own code with SQLite's words, without a driver error under it
    response = exception_handler(django_db.OperationalError("database is locked"), {})
    assert response is not None
    assert response.status_code == 503


@pytest.fixture
def metrics_path(create_template):
    return f"/api/performance/metrics?versionId={create_template().latest_version.pk}"


def test_endpoint__a_query_naming_a_column_that_does_not_exist__logged_500_not_503(
    api, make_user, metrics_path, monkeypatch, caplog
):
    # Given a service whose hand-written SQL names a column the table does not have (a real database error)
    def broken_query(*args, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT no_such_column FROM analytics_execution")

    monkeypatch.setattr("analytics.api.views.version_metrics", broken_query)
    api.client.raise_request_exception = False
    # When it is called over HTTP
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = api.as_user(make_user("analyst")).get(metrics_path)
    # Then the answer is a 500 in the error shape, and the error is in the log
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "server_error", "message": "Something went wrong on our side."}}
    assert "no_such_column" in caplog.text


def test_endpoint__database_locked__503_try_again(api, make_user, metrics_path, monkeypatch):
    # Given a service that finds the database locked, raised by this database's driver through Django
    driver_error = (
        psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")
        if connection.vendor == "postgresql"
        else sqlite3.OperationalError("database is locked")
    )

    def locked(*args, **kwargs):
        with connection.wrap_database_errors:
            raise driver_error

    monkeypatch.setattr("analytics.api.views.version_metrics", locked)
    # When it is called over HTTP
    response = api.as_user(make_user("analyst")).get(metrics_path)
    # Then the client is told to try again
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert response["Retry-After"] == "1"
