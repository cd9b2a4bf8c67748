"""What the A/B test tests start from: a template with two versions (both live in development at once, so
both approved there), and the README's create payload for them."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest

from lifecycle.releases.services import create_version_live_in_development
from lifecycle.testing.workflow import approve_for


@dataclass
class Subject:
    """A template and its versions 1.0.0 and 1.0.1, written by `author` (who maintains the template)."""

    template: Any
    versions: list[Any]
    author: Any

    def payload(self, **overrides: Any) -> dict[str, Any]:
        """The original README's create payload for these versions, plus templateId and environment."""
        body: dict[str, Any] = {
            "name": "Response Quality Test",
            "description": "Testing improved response generation",
            "templateId": str(self.template.pk),
            "environment": "production",
            "variants": [
                {
                    "id": "control",
                    "name": "Original",
                    "templateVersionId": str(self.versions[0].pk),
                    "trafficPercentage": 50,
                    "description": "Current production template",
                },
                {
                    "id": "variant-a",
                    "name": "Improved",
                    "templateVersionId": str(self.versions[1].pk),
                    "trafficPercentage": 50,
                    "description": "Enhanced template with better context",
                },
            ],
            "trafficSplit": {"control": 50, "variant-a": 50},
            "startDate": "2025-01-10T00:00:00Z",
            "successMetrics": [
                {
                    "name": "user_satisfaction",
                    "type": "user_satisfaction",
                    "target": 4.5,
                    "weight": 0.7,
                    "description": "Average user satisfaction score",
                },
                {
                    "name": "response_time",
                    "type": "response_time",
                    "target": 1000,
                    "weight": 0.3,
                    "description": "Average response time in milliseconds",
                },
            ],
            "hypothesis": "Enhanced context will improve user satisfaction by 15%",
        }
        body = copy.deepcopy(body)
        body.update(overrides)
        return body

    def service_payload(self, **overrides: Any) -> dict[str, Any]:
        """The same test as abtesting.services.create_test takes it."""
        fields: dict[str, Any] = {
            "name": "Response Quality Test",
            "template_id": self.template.pk,
            "environment": "production",
            "variants": [
                {"id": "control", "template_version_id": self.versions[0].pk, "traffic_percentage": 50},
                {"id": "variant-a", "template_version_id": self.versions[1].pk, "traffic_percentage": 50},
            ],
        }
        fields.update(overrides)
        return fields


@pytest.fixture
def subject(create_template, author) -> Subject:
    template = create_template()
    first = template.latest_version
    second = create_version_live_in_development(
        actor=author, template_id=template.pk, definition={"content": "Answer briefly: {{inquiry}}"}
    )
    return Subject(template=template, versions=[first, second], author=author)


@pytest.fixture
def approved_in_production(subject, reviewers) -> Subject:
    """Both versions approved for production."""
    for version in subject.versions:
        approve_for(version, "production", reviewers)
    return subject


@pytest.fixture
def runner(make_user) -> Any:
    """A deployer: starts, pauses, stops and cancels tests."""
    return make_user("deployer", username="release-manager")
