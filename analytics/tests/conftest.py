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
def template(create_template):
    return create_template()
