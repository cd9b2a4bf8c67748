"""Fixtures of templates_app's tests (the shared ones are in the project's conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from templates_app.services import create_version


@pytest.fixture
def new_version(author: Any) -> Callable[..., Any]:
    """new_version(template, content=..., variables=..., actor=None, metadata=None, bump=None): the next version."""

    def make(template: Any, *, actor: Any = None, metadata: Any = None, bump: Any = None, **definition: Any) -> Any:
        return create_version(
            actor=actor or author, template_id=template.pk, definition=definition, metadata=metadata, bump=bump
        )

    return make
