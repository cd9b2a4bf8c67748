"""Fixtures every app's tests share: users with roles, an API client that sends real tokens, templates."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

_usernames = itertools.count(1)


@pytest.fixture
def make_user(db: None) -> Callable[..., Any]:
    """make_user("author", "deployer", superuser=False, username=None): a user holding those roles."""

    def make(*roles: str, superuser: bool = False, username: str | None = None) -> Any:
        user = get_user_model().objects.create_user(
            username=username or f"user{next(_usernames)}", is_superuser=superuser, is_staff=superuser
        )
        # get_or_create: a transactional test's flush removes the groups the migration seeded.
        user.groups.add(*[Group.objects.get_or_create(name=role)[0] for role in roles])
        return user

    return make


class Api:
    """A DRF test client that authenticates the way integrations do: `Authorization: Token <key>`."""

    def __init__(self) -> None:
        self.client = APIClient()

    def as_user(self, user: Any) -> Api:
        token, _ = Token.objects.get_or_create(user=user)
        self.client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return self

    def anonymous(self) -> Api:
        self.client.credentials()
        return self

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: Any = None, **kwargs: Any) -> Any:
        return self.client.post(path, data, format="json", **kwargs)

    def put(self, path: str, data: Any = None, **kwargs: Any) -> Any:
        return self.client.put(path, data, format="json", **kwargs)

    def raw(self, method: str, path: str, body: bytes, content_type: str = "application/json") -> Any:
        return self.client.generic(method, path, body, content_type=content_type)  # type: ignore[arg-type]


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


def template_payload(**overrides: Any) -> dict[str, Any]:
    """The original README's create-template payload."""
    payload: dict[str, Any] = {
        "name": f"Customer Support Response {next(_usernames)}",
        "description": "Template for generating customer support responses",
        "content": "Please respond to the customer inquiry: {{inquiry}}",
        "variables": [{"name": "inquiry", "type": "string", "required": True, "description": "Customer inquiry text"}],
        "provider": "claude",
        "modelConfig": {"model": "claude-sonnet", "temperature": 0.2, "maxTokens": 500},
        "category": "generation",
        "tags": ["support", "customer-service"],
        "metadata": {
            "author": "support-team",
            "version": "1.0.0",
            "changelog": "Initial version",
            "estimatedTokens": 100,
            "complexity": "low",
            "usageContext": ["customer-support"],
        },
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def create_template(author: Any) -> Callable[..., Any]:
    """create_template(**payload overrides): a template made as the API makes it (its first version active
    in development), as `author`."""
    from lifecycle.releases.services import create_template_live_in_development as create
    from templates_app.api.serializers import DefinitionInput

    def make(actor: Any = None, **overrides: Any) -> Any:
        payload = template_payload(**overrides)
        return create(
            actor=actor or author,
            name=payload["name"],
            description=payload["description"],
            category=payload["category"],
            tags=payload["tags"],
            metadata=payload["metadata"],
            definition=DefinitionInput.fields_of(payload),
        )

    return make


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together, as concurrent requests would; each call's result, or the
    exception it raised, in the calls' order. Each thread closes its own database connections.

    For `django_db(transaction=True)` tests: threads see only committed data.
    """
    import threading

    from django.db import connections

    outcomes: list[Any] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(index: int) -> None:
        try:
            start.wait(timeout=30)
            outcomes[index] = calls[index]()
        except BaseException as exc:
            outcomes[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove the writer-lock file of this run's SQLite test database (lifecycle.core.db): Django removes
    the database itself, not the file beside it, and var/ would collect one per test run."""
    from django.conf import settings

    name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if name and not str(name).startswith(("file:", ":memory:")):
        Path(f"{name}.writer-lock").unlink(missing_ok=True)
