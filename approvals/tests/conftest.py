from __future__ import annotations

from typing import Any

import pytest

STAGES = {"staging": ["technical", "qa"], "production": ["technical", "qa", "security", "business"]}


@pytest.fixture
def reviewers(make_user) -> dict[str, Any]:
    """One reviewer per approval role, each with an email address."""
    people = {}
    for role in ("technical", "qa", "security", "business"):
        user = make_user(role, username=f"{role}-reviewer")
        user.email = f"{role}@example.com"
        user.save()
        people[role] = user
    return people


@pytest.fixture
def deployer(make_user) -> Any:
    return make_user("deployer", username="deployer")


@pytest.fixture
def version(create_template) -> Any:
    """A template's first version, written by the `author` fixture."""
    return create_template().latest_version


class Workflow:
    """The approval API, as the tests drive it."""

    def __init__(self, api: Any) -> None:
        self.api = api

    def submit(self, user: Any, version: Any, environment: str = "production") -> Any:
        return self.api.as_user(user).post(
            "/api/approval/submit", {"versionId": str(version.pk), "environment": environment}
        )

    def decide(
        self, verb: str, user: Any, version: Any, stage: int, comment: str = "", environment: Any = "production"
    ):
        body: dict[str, Any] = {"versionId": str(version.pk), "data": {"stageIndex": stage, "comment": comment}}
        if environment is not None:
            body["environment"] = environment
        return self.api.as_user(user).post(f"/api/approval/{verb}", body)

    def approve(self, user: Any, version: Any, stage: int, comment: str = "", environment: Any = "production"):
        return self.decide("approve", user, version, stage, comment, environment)

    def reject(self, user: Any, version: Any, stage: int, comment: str = "", environment: Any = "production"):
        return self.decide("reject", user, version, stage, comment, environment)

    def approve_all(self, reviewers: dict[str, Any], version: Any, environment: str = "production") -> Any:
        response = None
        for index, role in enumerate(STAGES[environment]):
            response = self.approve(reviewers[role], version, index, f"{role} ok", environment)
            assert response.status_code == 200, response.json()
        return response


@pytest.fixture
def workflow(api) -> Workflow:
    return Workflow(api)
