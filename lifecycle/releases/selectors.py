"""What is live where, and the render/resolve path integrations call on every LLM request.

Correct the instant a deploy returns, in every process: which version is active is read from the
database on every request, never from a cache. It costs one indexed lookup (the partial unique index on
active deployments), written as SQL because building the same query with the ORM costs twenty times as
much (../shared/research/limits.md). What *is* cached in memory is the compiled version
(templates_app.selectors.render_plan), which is safe because versions never change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Exists, OuterRef, QuerySet, Subquery

from approvals import selectors as approval_selectors
from approvals.models import ApprovalRequest, ApprovalStage
from approvals.selectors import approved_environments
from lifecycle.core.api.authentication import token_user_sql, user_from_row
from lifecycle.core.audit import AuditEntry, entries_from_history
from lifecycle.core.db.lookups import QuoteName, column_of, fetch_one_query, uuid_param
from lifecycle.core.environments import Environment
from lifecycle.core.roles import Role, User
from lifecycle.releases.exceptions import NothingActive
from lifecycle.releases.models import Deployment
from templates_app import selectors as template_selectors
from templates_app.models import TemplateVersion
from templates_app.rendering import RenderPlan
from templates_app.selectors import render_plan


def _active_version_sql(qn: QuoteName) -> str:
    meta = Deployment._meta
    column = {name: qn(column_of(Deployment, name)) for name in ("version", "template", "environment", "state")}
    # 'active' is a literal, not a parameter, so that the planner can match the partial index's condition.
    return (
        f"SELECT {column['version']} FROM {qn(meta.db_table)} "
        f"WHERE {column['template']} = %s AND {column['environment']} = %s AND {column['state']} = 'active'"
    )


_active_version = fetch_one_query(_active_version_sql)


def active_version_id(template_id: UUID, environment: str) -> UUID | None:
    """The id of the version `template_id` serves in `environment`, or None. One indexed query."""
    row = _active_version(uuid_param(template_id), environment)
    return _as_uuid(row[0]) if row is not None else None


def _as_uuid(value: Any) -> UUID | None:
    if value is None or isinstance(value, UUID):
        return value
    return UUID(value)


_token_user_and_active_version = fetch_one_query(
    lambda qn: token_user_sql(qn, extra_columns=[f"({_active_version_sql(qn)})"])
)


def token_user_and_active_version(token: str, template_id: UUID, environment: str) -> tuple[Any, UUID | None]:
    """The token's user (None if unknown) and the active version's id, in one query (the render hot path)."""
    row = _token_user_and_active_version(uuid_param(template_id), environment, token)
    if row is None:
        return None, None
    return user_from_row(row), _as_uuid(row[-1])


def active_plan(template_id: UUID, environment: str) -> RenderPlan:
    """The compiled version active for the template in the environment; NothingActive if none."""
    return _plan_or_nothing_active(active_version_id(template_id, environment), environment)


def _plan_or_nothing_active(version_id: UUID | None, environment: str) -> RenderPlan:
    if version_id is None:
        raise NothingActive(f"No version of this template is active in {environment}.")
    return render_plan(version_id)


@dataclass(frozen=True)
class RenderedPrompt:
    plan: RenderPlan
    environment: str
    output: str | list[dict[str, str]]

    def to_json(self) -> dict[str, Any]:
        plan = self.plan
        body: dict[str, Any] = {
            "templateId": str(plan.template_id),
            "versionId": str(plan.version_id),
            "version": plan.version,
            "environment": self.environment,
        }
        body["messages" if isinstance(self.output, list) else "rendered"] = self.output
        body["modelConfig"] = plan.definition.model_config
        return body


def render_active(*, template_id: UUID, environment: str, values: Mapping[str, Any]) -> RenderedPrompt:
    """Render the version active in `environment` with `values` (ValuesInvalid if they break its schema)."""
    plan = active_plan(template_id, environment)
    return RenderedPrompt(plan=plan, environment=environment, output=plan.render(values))


def render_version(version_id: UUID | None, environment: str, values: Mapping[str, Any]) -> RenderedPrompt:
    """Render a version found active in `environment` (None: NothingActive)."""
    plan = _plan_or_nothing_active(version_id, environment)
    return RenderedPrompt(plan=plan, environment=environment, output=plan.render(values))


def is_approved_for(version: TemplateVersion, environment: str) -> bool:
    """Whether the version may be deployed to the environment (approvals.selectors holds the rule)."""
    return environment in approved_environments([version.pk])[version.pk]


def active_deployments_of(template_id: UUID) -> dict[str, Deployment]:
    deployments = Deployment.objects.filter(template_id=template_id, state=Deployment.State.ACTIVE).select_related(
        "version", "deployed_by"
    )
    return {deployment.environment: deployment for deployment in deployments}


@dataclass(frozen=True)
class VersionLiveState:
    """Where one version may be deployed (approved for) and where it serves (active in)."""

    approved_for: tuple[str, ...] = ()
    active_in: tuple[str, ...] = ()


def live_state_of_versions(version_ids: Iterable[UUID]) -> dict[UUID, VersionLiveState]:
    """Where each version is approved and active (two queries, however many versions)."""
    ids = list(version_ids)
    approved = approved_environments(ids)
    active: dict[UUID, list[str]] = {}
    for version_id, environment in Deployment.objects.filter(
        version_id__in=ids, state=Deployment.State.ACTIVE
    ).values_list("version_id", "environment"):
        active.setdefault(version_id, []).append(environment)
    return {
        version_id: VersionLiveState(
            approved_for=approved[version_id],
            active_in=tuple(sorted(active.get(version_id, []), key=Environment.values.index)),
        )
        for version_id in ids
    }


def audit_entries_for_template(template_id: UUID) -> list[AuditEntry]:
    """Every deployment of the template and its end, oldest first."""
    records = (
        Deployment.history.filter(template_id=template_id)
        .select_related("history_user", "version")
        .order_by("history_date", "history_id")
    )

    def describe(record: Any, action: str) -> str:
        where = f"version {record.version.number} in {record.environment}"
        if action == "created":
            return f"{where} {'redeployed' if record.kind == Deployment.Kind.REDEPLOY else 'deployed'}"
        return f"{where} {record.state.replace('_', ' ')}"

    return entries_from_history(
        records, subject="deployment", describe=describe, ignore_fields=["ended_at", "ended_by"]
    )


def audit_trail_for_template(template_id: UUID) -> list[AuditEntry]:
    """Everything that happened to the template, newest first: its changes, versions, approvals and
    deployments."""
    entries = (
        template_selectors.audit_entries_for_template(template_id)
        + approval_selectors.audit_entries_for_template(template_id)
        + audit_entries_for_template(template_id)
    )
    return sorted(entries, key=lambda entry: (entry.at, entry.sequence), reverse=True)


# What the admin's version and template pages show of a version's way to each environment.


@dataclass(frozen=True)
class RequestLine:
    """One approval request of a version, as a version page lists it."""

    request: ApprovalRequest
    # The stage that waits for a decision (pending requests only): its 1-based number, the count, the role.
    waiting_stage: tuple[int, int, str] | None


@dataclass(frozen=True)
class EnvironmentStanding:
    """Where a version stands in one environment: approved for it, active in it, and its requests there."""

    environment: str
    needs_approval: bool
    approved: bool
    active: bool
    requests: tuple[RequestLine, ...]  # newest first

    @property
    def pending(self) -> RequestLine | None:
        return next((line for line in self.requests if line.request.state == ApprovalRequest.State.PENDING), None)

    @property
    def latest(self) -> RequestLine | None:
        return self.requests[0] if self.requests else None


def standing_of_version(version_id: UUID) -> list[EnvironmentStanding]:
    """Each environment, in order, with where the version stands there (four queries)."""
    live = live_state_of_versions([version_id])[version_id]
    requests = (
        ApprovalRequest.objects.filter(version_id=version_id)
        .select_related("submitted_by")
        .prefetch_related("stages__role")
        .order_by("-submitted_at")
    )
    by_environment: dict[str, list[RequestLine]] = {}
    for request in requests:
        stages = sorted(request.stages.all(), key=lambda stage: stage.index)
        waiting = next((stage for stage in stages if stage.state == ApprovalStage.State.WAITING), None)
        shown = None
        if request.state == ApprovalRequest.State.PENDING and waiting is not None:
            shown = (waiting.index + 1, len(stages), waiting.role.name)
        by_environment.setdefault(request.environment, []).append(RequestLine(request, shown))
    return [
        EnvironmentStanding(
            environment=environment,
            needs_approval=environment != Environment.DEVELOPMENT,
            approved=environment in live.approved_for,
            active=environment in live.active_in,
            requests=tuple(by_environment.get(environment, [])),
        )
        for environment in Environment.values
    ]


def approval_requests_of_stages(stage_ids: Iterable[int]) -> dict[int, UUID]:
    """The request each approval stage belongs to (the template's history links a decision to its request)."""
    return dict(ApprovalStage.objects.filter(pk__in=list(stage_ids)).values_list("pk", "request_id"))


_NUMBER = ("major", "minor", "patch")


def ready_to_deploy() -> QuerySet[ApprovalRequest]:
    """Approved requests whose version was never deployed to their environment, oldest approval first; each
    with the number of the version active there now (`active_major`, `active_minor`, `active_patch`: None
    if nothing is)."""
    deployed = Deployment.objects.filter(version=OuterRef("version"), environment=OuterRef("environment"))
    active = Deployment.objects.filter(
        template=OuterRef("version__template"), environment=OuterRef("environment"), state=Deployment.State.ACTIVE
    )
    return (
        ApprovalRequest.objects.filter(state=ApprovalRequest.State.APPROVED)
        .exclude(Exists(deployed))
        .annotate(**{f"active_{part}": Subquery(active.values(f"version__{part}")[:1]) for part in _NUMBER})
        .select_related("version__template", "submitted_by")
        .order_by("decided_at", "submitted_at")
    )


def with_first_deployment(requests: QuerySet[ApprovalRequest]) -> QuerySet[ApprovalRequest]:
    """`requests`, each annotated with when its version was first deployed to its environment
    (`deployed_at`, None if never): one subquery, however many requests."""
    first = Deployment.objects.filter(version=OuterRef("version"), environment=OuterRef("environment")).order_by(
        "deployed_at"
    )
    return requests.annotate(deployed_at=Subquery(first.values("deployed_at")[:1]))


@dataclass(frozen=True)
class RequestDeployment:
    """An approved request's version in its environment: when it was first deployed there and by whom (None:
    not yet), whether it serves there now, and who may deploy it (the deployer role's holders)."""

    deployed_at: datetime | None
    deployed_by: str | None
    active_now: bool
    deployers: tuple[str, ...]


def deployment_of_request(request: ApprovalRequest) -> RequestDeployment:
    deployments = list(
        Deployment.objects.filter(version_id=request.version_id, environment=request.environment)
        .select_related("deployed_by")
        .order_by("deployed_at")
    )
    first = deployments[0] if deployments else None
    return RequestDeployment(
        deployed_at=first.deployed_at if first else None,
        deployed_by=first.deployed_by.get_username() if first else None,
        active_now=any(deployment.state == Deployment.State.ACTIVE for deployment in deployments),
        deployers=() if first else deployers(),
    )


def deployers() -> tuple[str, ...]:
    """The usernames of the deployer role's active holders."""
    return tuple(
        User.objects.filter(is_active=True, groups__name=Role.DEPLOYER)
        .order_by("username")
        .values_list("username", flat=True)
        .distinct()
    )
