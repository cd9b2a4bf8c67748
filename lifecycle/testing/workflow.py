"""The approval API, as tests drive it."""

from __future__ import annotations

from typing import Any

from approvals.services import approve_stage, submit_for_approval

STAGES = {"staging": ["technical", "qa"], "production": ["technical", "qa", "security", "business"]}


def approve_for(version: Any, environment: str, reviewers: dict[str, Any]) -> None:
    """Approve `version` for `environment`, stage by stage, through the approval service."""
    request = submit_for_approval(actor=version.created_by, version_id=version.pk, environment=environment)
    for index, role in enumerate(STAGES[environment]):
        approve_stage(actor=reviewers[role], request_id=request.pk, stage_index=index, comment=f"{role} ok")


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
