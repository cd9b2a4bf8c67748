"""Fixtures every app's tests share. The helpers behind them (API client, factories, concurrency, the real
server) are in lifecycle.testing, which tests import directly; nothing is imported from this file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lifecycle.testing.api import Api
from lifecycle.testing.factories import UserFactory
from lifecycle.testing.factories import create_template as make_template
from lifecycle.testing.workflow import Workflow


@pytest.fixture
def make_user(db: None) -> Callable[..., Any]:
    """make_user("author", "deployer", superuser=False, username=None): a user holding those roles."""

    def make(*roles: str, superuser: bool = False, username: str | None = None) -> Any:
        extra = {"username": username} if username else {}
        return UserFactory(roles=roles, is_superuser=superuser, **extra)

    return make


@pytest.fixture
def api(db: None) -> Api:
    return Api()


@pytest.fixture
def author(make_user: Callable[..., Any]) -> Any:
    return make_user("author")


@pytest.fixture
def reader(make_user: Callable[..., Any]) -> Any:
    """Authenticated, with no role: may read templates and render."""
    return make_user()


@pytest.fixture
def integration(make_user: Callable[..., Any]) -> Any:
    """A service account: renders, resolves and reports executions for any template."""
    return make_user("integration")


@pytest.fixture
def create_template(author: Any) -> Callable[..., Any]:
    """create_template(actor=None, **payload overrides): a template made as the API makes it (its first
    version active in development), by `author` unless another actor is given."""

    def make(actor: Any = None, **overrides: Any) -> Any:
        return make_template(actor or author, **overrides)

    return make


@pytest.fixture
def reviewers(make_user: Callable[..., Any]) -> dict[str, Any]:
    """One reviewer per approval role, each with an email address."""
    people = {}
    for role in ("technical", "qa", "security", "business"):
        user = make_user(role, username=f"{role}-reviewer")
        user.email = f"{role}@example.com"
        user.save()
        people[role] = user
    return people


@pytest.fixture
def deployer(make_user: Callable[..., Any]) -> Any:
    return make_user("deployer", username="deployer")


@pytest.fixture
def version(create_template: Callable[..., Any]) -> Any:
    """A template's first version, written by the `author` fixture."""
    return create_template().latest_version


@pytest.fixture
def workflow(api: Api) -> Workflow:
    return Workflow(api)


@pytest.fixture
def parameter_limit():
    """lower(n): the SQLite connection takes at most n parameters a statement, until the test ends."""
    import sqlite3

    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's limit is fixed (65,535 parameters), and its bulk insert takes one per column")
    connection.ensure_connection()
    raw = connection.connection
    original = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    yield lambda limit: raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, original)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real stack (gunicorn, Celery worker and beat), shared by every test marked `server`."""
    from lifecycle.testing.server import running_server

    with running_server(tmp_path_factory.mktemp("server")) as started:
        yield started


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove the writer-lock file of this run's SQLite test database (lifecycle.core.db.sqlite): Django removes
    the database itself, not the file beside it, and var/ would collect one per test run."""
    from django.conf import settings

    name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if name and not str(name).startswith(("file:", ":memory:")):
        Path(f"{name}.writer-lock").unlink(missing_ok=True)
