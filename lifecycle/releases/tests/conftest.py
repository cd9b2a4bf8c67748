"""What the rollback tests start from: a template whose versions served production one after another."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from lifecycle.releases.models import Deployment
from lifecycle.releases.services import create_version_live_in_development, deploy_version
from lifecycle.testing.workflow import approve_for


@dataclass
class Served:
    """A template and its versions (1.0.0, 1.0.1, 1.0.2, ...), each approved for and deployed to production in
    turn by `deployer`; the last serves there now."""

    template: Any
    versions: list[Any]
    deployer: Any

    def active(self, environment: str = "production") -> Deployment:
        return Deployment.objects.get(template=self.template, environment=environment, state="active")

    def deployments(self, environment: str = "production") -> list[Deployment]:
        """Oldest first."""
        return list(Deployment.objects.filter(template=self.template, environment=environment).order_by("deployed_at"))

    def new_version(self, content: str, **definition: Any) -> Any:
        return create_version_live_in_development(
            actor=self.versions[0].created_by,
            template_id=self.template.pk,
            definition={"content": content, **definition},
        )

    def deploy(self, version: Any, environment: str = "production") -> Deployment:
        return deploy_version(actor=self.deployer, version_id=version.pk, environment=environment)


@pytest.fixture
def served(create_template, author, reviewers, deployer) -> Served:
    """1.0.0, 1.0.1 and 1.0.2 of a template served production in turn; 1.0.2 serves it now."""
    template = create_template()
    first = template.latest_version
    versions = [first]
    for number in (1, 2):
        versions.append(
            create_version_live_in_development(
                actor=author, template_id=template.pk, definition={"content": f"Answer #{number}: {{{{inquiry}}}}"}
            )
        )
    for version in versions:
        approve_for(version, "production", reviewers)
        deploy_version(actor=deployer, version_id=version.pk, environment="production")
    return Served(template=template, versions=versions, deployer=deployer)
