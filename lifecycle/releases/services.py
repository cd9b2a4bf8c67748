"""Every change of what is live where. Render and resolve read the result (selectors.py).

Also the rules that span templates and what is live: a new template or version is active in development
from the moment it is created. templates_app cannot know about deployments (it sits beneath this app), so
the API and the admin create templates and versions through the functions here, which call templates_app's
service and activate its result in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from django.db import transaction

from lifecycle.core.environments import Environment, check_environment
from lifecycle.core.exceptions import DomainError
from lifecycle.core.roles import Role, User, has_role, require_role
from lifecycle.releases.exceptions import NotApproved
from lifecycle.releases.models import Deployment
from lifecycle.releases.selectors import is_approved_for
from templates_app import services as template_services
from templates_app.models import Category, PromptTemplate, TemplateVersion
from templates_app.permissions import require_may_change
from templates_app.selectors import version_by_id
from templates_app.semver import Bump
from templates_app.services import lock_template


@transaction.atomic
def create_template_live_in_development(
    *,
    actor: User,
    name: str,
    definition: Mapping[str, Any],
    description: str = "",
    category: str = Category.OTHER,
    tags: Sequence[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> PromptTemplate:
    """Create a template (templates_app.services.create_template) with its first version active in
    development: both or neither."""
    template = template_services.create_template(
        actor=actor,
        name=name,
        definition=definition,
        description=description,
        category=category,
        tags=tags,
        metadata=metadata,
    )
    assert template.latest_version is not None
    _activate(template.latest_version, Environment.DEVELOPMENT, actor)
    return template


@transaction.atomic
def create_version_live_in_development(
    *,
    actor: User,
    template_id: UUID,
    definition: Mapping[str, Any],
    metadata: dict[str, Any] | None = None,
    bump: Bump | None = None,
) -> TemplateVersion:
    """Create the template's next version (templates_app.services.create_version), active in development
    at once: both or neither."""
    version = template_services.create_version(
        actor=actor, template_id=template_id, definition=definition, metadata=metadata, bump=bump
    )
    _activate(version, Environment.DEVELOPMENT, actor)
    return version


@transaction.atomic
def deploy_version(*, actor: User, version_id: UUID, environment: str) -> Deployment:
    """Make a version the one its template serves in `environment`.

    Development: deployers, and authors who maintain the template (templates_app.permissions). Staging and
    production: deployers, for a version approved for that environment. Deploying the version already
    active changes nothing.
    """
    check_environment(environment)
    version = version_by_id(version_id)
    refusal = refusal_to_deploy(actor=actor, version=version, environment=environment)
    if refusal is not None:
        raise refusal
    return _activate(version, environment, actor)


def refusal_to_deploy(*, actor: User, version: TemplateVersion, environment: str) -> DomainError | None:
    """Why `actor` may not deploy `version` to `environment`, or None if they may: the rules deploy_version
    enforces, for a page that offers the deploy only to whoever may take it."""
    try:
        if environment == Environment.DEVELOPMENT:
            if not has_role(actor, Role.DEPLOYER):
                require_may_change(actor, version.template, to="deploy its versions to development")
        else:
            require_role(actor, Role.DEPLOYER, to=f"deploy to {environment}")
    except DomainError as refusal:
        return refusal
    if not is_approved_for(version, environment):
        return NotApproved(
            f"Version {version.number} is not approved for {environment}: it needs an approved request "
            f"(POST /api/approval/submit, then each stage's decision)."
        )
    return None


def _activate(version: TemplateVersion, environment: str, actor: User) -> Deployment:
    """Supersede what is active and activate `version`. Call inside a transaction."""
    # The template's lock serializes every change to what it serves; the partial unique index on active
    # deployments is the backstop should anything bypass it.
    lock_template(version.template_id)
    current = (
        Deployment.objects.select_for_update()
        .filter(template_id=version.template_id, environment=environment, state=Deployment.State.ACTIVE)
        .first()
    )
    if current is not None and current.version_id == version.pk:
        return current
    if current is not None:
        current.supersede(by=actor)
        current._history_user = actor  # type: ignore[attr-defined]
        current.save()
    deployed_before = Deployment.objects.filter(version=version, environment=environment).exists()
    deployment = Deployment(
        template_id=version.template_id,
        version=version,
        environment=environment,
        kind=Deployment.Kind.REDEPLOY if deployed_before else Deployment.Kind.DEPLOY,
        deployed_by=actor,
    )
    deployment._history_user = actor  # type: ignore[attr-defined]
    deployment.save()
    return deployment
