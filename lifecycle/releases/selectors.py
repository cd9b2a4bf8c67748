"""What is live where, and the render/resolve path integrations call on every LLM request.

Correct the instant a deploy returns, in every process: which version is active is read from the
database on every request, never from a cache. It costs one indexed lookup (the partial unique index on
active deployments), written as SQL because building the same query with the ORM costs twenty times as
much (../shared/research/limits.md). What *is* cached in memory is the compiled version
(templates_app.selectors.render_plan), which is safe because versions never change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from promptrender.definitions import VersionDefinition
from promptrender.rendering import RenderPlan
from promptrender.serving import LiveTest, Served, result_json, what_to_serve
from promptrender.variables import ValuesInvalid

from abtesting import selectors as abtest_selectors
from abtesting.serving import live_test_sql, parse_live_test, test_variants
from analytics import histogram
from analytics import selectors as analytics_selectors
from analytics.windows import Window, iso
from approvals import selectors as approval_selectors
from approvals.models import ApprovalRequest, ApprovalStage
from approvals.selectors import approved_environments
from lifecycle.core.api.authentication import Credential, credential_from_row, token_user_sql
from lifecycle.core.audit import AuditEntry, entries_from_history
from lifecycle.core.db.lookups import QuoteName, column_of, fetch_one_query, uuid_param
from lifecycle.core.db.snapshots import one_snapshot
from lifecycle.core.environments import Environment, check_environment
from lifecycle.core.exceptions import InvalidInput
from lifecycle.core.roles import Role, User
from lifecycle.core.tokens.keys import digest_of
from lifecycle.releases.exceptions import NothingActive
from lifecycle.releases.models import Deployment, Rollback
from lifecycle.releases.permissions import require_may_force, require_may_roll_back
from templates_app import selectors as template_selectors
from templates_app.diff import VersionDiff, diff_versions
from templates_app.models import TemplateVersion
from templates_app.selectors import render_plan, template_row, version_by_id
from templates_app.semver import classify_change


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
_token_user_active_version_and_test = fetch_one_query(
    lambda qn: token_user_sql(qn, extra_columns=[f"({_active_version_sql(qn)})", f"({live_test_sql(qn)})"])
)
_active_version_and_test = fetch_one_query(lambda qn: f"SELECT ({_active_version_sql(qn)}), ({live_test_sql(qn)})")


def credential_and_active_version(
    key: str, template_id: UUID, environment: str
) -> tuple[Credential | None, UUID | None]:
    """The key's credential (None: unknown, expired, revoked, or an inactive user) and the active version's
    id, in one query (the render hot path)."""
    row = _token_user_and_active_version(uuid_param(template_id), environment, digest_of(key))
    credential = credential_from_row(row)
    if credential is None or row is None:
        return None, None
    return credential, _as_uuid(row[-1])


def _served(active: Any, live_test: Any, subject_id: str | None) -> Served:
    live = parse_live_test(live_test) if subject_id is not None else None
    test = LiveTest(test_variants(live[0]), running=live[1]) if live is not None else None
    return what_to_serve(_as_uuid(active), test, subject_id)


def credential_and_served(
    key: str, template_id: UUID, environment: str, subject_id: str | None
) -> tuple[Credential | None, Served]:
    """The key's credential (None: it may not authenticate) and what to serve, in one query (the render hot
    path): with a subject, the subject's variant while an A/B test runs for the template there (its control
    while the test is paused), else the active version."""
    if subject_id is None:
        credential, version_id = credential_and_active_version(key, template_id, environment)
        return credential, Served(version_id)
    template = uuid_param(template_id)
    row = _token_user_active_version_and_test(template, environment, template, environment, digest_of(key))
    credential = credential_from_row(row)
    if credential is None or row is None:
        return None, Served(None)
    return credential, _served(row[-2], row[-1], subject_id)


def served(template_id: UUID, environment: str, subject_id: str | None) -> Served:
    """credential_and_served's answer for a request whose user is known already (DRF's way)."""
    if subject_id is None:
        return Served(active_version_id(template_id, environment))
    template = uuid_param(template_id)
    row = _active_version_and_test(template, environment, template, environment)
    assert row is not None
    return _served(row[0], row[1], subject_id)


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
    test_id: UUID | None = None  # the A/B test whose variant this is
    variant_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return result_json(self.plan, self.environment, self.output, self.test_id, self.variant_key)


def _rendered(plan: RenderPlan, values: Mapping[str, Any]) -> str | list[dict[str, str]]:
    """The plan rendered with `values`; values that break its schema are the API's 400 naming each one."""
    try:
        return plan.render(values)
    except ValuesInvalid as exc:
        raise InvalidInput(exc.message, fields=exc.fields) from exc


def render_active(*, template_id: UUID, environment: str, values: Mapping[str, Any]) -> RenderedPrompt:
    """Render the version active in `environment` with `values` (InvalidInput if they break its schema)."""
    plan = active_plan(template_id, environment)
    return RenderedPrompt(plan=plan, environment=environment, output=_rendered(plan, values))


def render_version(version_id: UUID | None, environment: str, values: Mapping[str, Any]) -> RenderedPrompt:
    """Render a version found active in `environment` (None: NothingActive)."""
    plan = _plan_or_nothing_active(version_id, environment)
    return RenderedPrompt(plan=plan, environment=environment, output=_rendered(plan, values))


def render_served(what: Served, environment: str, values: Mapping[str, Any]) -> RenderedPrompt:
    """Render what `served`/`credential_and_served` chose (no version: NothingActive)."""
    plan = _plan_or_nothing_active(what.version_id, environment)
    output = _rendered(plan, values)
    return RenderedPrompt(plan, environment, output, test_id=what.test_id, variant_key=what.variant_key)


def is_approved_for(version: TemplateVersion, environment: str) -> bool:
    """Whether the version may be deployed to the environment (approvals.selectors holds the rule)."""
    return environment in approved_environments([version.pk])[version.pk]


def active_deployments_of(template_id: UUID) -> dict[str, Deployment]:
    deployments = Deployment.objects.filter(template_id=template_id, state=Deployment.State.ACTIVE).select_related(
        "version", "deployed_by"
    )
    return {deployment.environment: deployment for deployment in deployments}


def active_versions_by_template(template_ids: Iterable[UUID]) -> dict[tuple[UUID, str], str]:
    """The number of the version each of these templates serves, by (template, environment); one query."""
    active = Deployment.objects.filter(template_id__in=list(template_ids), state=Deployment.State.ACTIVE)
    return {
        (template_id, environment): f"{major}.{minor}.{patch}"
        for template_id, environment, major, minor, patch in active.values_list(
            "template_id", "environment", "version__major", "version__minor", "version__patch"
        )
    }


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
            return f"{where} {_HOW_IT_BECAME_ACTIVE.get(record.kind, 'deployed')}"
        by_rule = " by a rule" if record.rolled_back_by_rule else ""
        return f"{where} {record.state.replace('_', ' ')}{by_rule}"

    return entries_from_history(
        records,
        subject="deployment",
        describe=describe,
        ignore_fields=["ended_at", "ended_by", "ended_by_label", "rolled_back_by_rule"],
    )


_HOW_IT_BECAME_ACTIVE = {
    Deployment.Kind.DEPLOY: "deployed",
    Deployment.Kind.REDEPLOY: "redeployed",
    Deployment.Kind.MANUAL_ROLLBACK: "made active by a manual rollback",
    Deployment.Kind.EMERGENCY_ROLLBACK: "made active by an emergency rollback",
    Deployment.Kind.AUTOMATIC_ROLLBACK: "made active by an automatic rollback",
}


def rollback_audit_entries_for_template(template_id: UUID) -> list[AuditEntry]:
    """Each rollback of the template, as one entry: the record itself is the audit (who or which rule, from
    and to, why); its deployments' own entries say what changed where."""
    entries = []
    for rollback in rollbacks_for_listing().filter(template_id=template_id):
        entries.append(
            AuditEntry(
                at=rollback.finished_at or rollback.requested_at,
                by=rollback.initiated_by_name,
                subject="rollback",
                subject_id=str(rollback.pk),
                action="created",
                summary=describe_rollback(rollback),
            )
        )
    return entries


def describe_rollback(rollback: Rollback) -> str:
    """A rollback in one line, as the audit trail and the admin say it."""
    moved = (
        f"{rollback.type} rollback in {rollback.environment} "
        f"from {rollback.from_version.number} to {rollback.to_version.number}"
    )
    if rollback.state == Rollback.State.FAILED:
        return f"failed {moved}: {rollback.failure_reason}"
    return f"{moved}: {rollback.reason}"


def audit_trail_for_template(template_id: UUID) -> list[AuditEntry]:
    """Everything that happened to the template, newest first: its changes, versions, approvals,
    deployments, rollbacks and A/B tests."""
    entries = (
        template_selectors.audit_entries_for_template(template_id)
        + approval_selectors.audit_entries_for_template(template_id)
        + audit_entries_for_template(template_id)
        + rollback_audit_entries_for_template(template_id)
        + abtest_selectors.audit_entries_for_template(template_id)
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
        deployed_by=first.deployed_by_name if first else None,
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


# What was live where, and rollbacks: their history, validation and impact.


def deployments_of_template(template_id: UUID, environment: str | None = None) -> QuerySet[Deployment]:
    """Every deployment of the template (in `environment`, if given), newest first: what was live where and
    when. TemplateNotFound for an unknown template; InvalidInput for an unknown environment."""
    if environment is not None:
        check_environment(environment)
    template_row(template_id)
    deployments = Deployment.objects.filter(template_id=template_id)
    if environment is not None:
        deployments = deployments.filter(environment=environment)
    return deployments.select_related("version", "deployed_by", "ended_by", "rollback").order_by("-deployed_at")


def earlier_versions_by_deployment(deployments: Iterable[Deployment]) -> dict[UUID, list[TemplateVersion]]:
    """For each active deployment, the other versions deployed before in its environment, newest first: the
    targets a manual rollback may choose from (check_rollback still decides). One query."""
    listed = list(deployments)
    if not listed:
        return {}
    condition = Q()
    for deployment in listed:
        condition |= Q(template_id=deployment.template_id, environment=deployment.environment)
    earlier = (
        Deployment.objects.filter(condition)
        .select_related("version")
        .only("template_id", "environment", "version_id", "version__major", "version__minor", "version__patch")
        .order_by("-deployed_at")
    )
    found: dict[UUID, list[TemplateVersion]] = {deployment.pk: [] for deployment in listed}
    by_place = {(deployment.template_id, deployment.environment): deployment for deployment in listed}
    for row in earlier:
        current = by_place[(row.template_id, row.environment)]
        targets = found[current.pk]
        if row.version_id != current.version_id and all(version.pk != row.version_id for version in targets):
            targets.append(row.version)
    return found


def rollbacks_for_listing() -> QuerySet[Rollback]:
    """Rollbacks, newest first, with what a list shows of them (a fixed number of queries)."""
    return Rollback.objects.select_related("template", "from_version", "to_version", "initiated_by").order_by(
        "-requested_at"
    )


def rollback_history(template_id: UUID | None = None) -> QuerySet[Rollback]:
    """Every rollback (of one template, if given: TemplateNotFound if unknown), newest first."""
    rollbacks = rollbacks_for_listing()
    if template_id is not None:
        template_row(template_id)
        rollbacks = rollbacks.filter(template_id=template_id)
    return rollbacks


@dataclass(frozen=True)
class Performance:
    """A version's recorded numbers in one environment over some spans of time (its times live there)."""

    spans: tuple[tuple[datetime, datetime], ...]
    executions: int
    success_rate: float | None
    error_rate: float | None
    average_response_time: float | None
    p95_response_time: float | None
    average_cost: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "periods": [{"from": iso(start), "to": iso(end)} for start, end in self.spans],
            "executions": self.executions,
            "successRate": self.success_rate,
            "errorRate": self.error_rate,
            "averageResponseTime": self.average_response_time,
            "p95ResponseTime": self.p95_response_time,
            "averageCost": self.average_cost,
        }


def performance_in(version_id: UUID, environment: str, spans: Sequence[tuple[datetime, datetime]]) -> Performance:
    """The version's numbers in the environment over the spans ([start, end) each), read from the analytics
    rollups (and the few raw executions at each span's edges), never from a scan of its executions."""
    scope = {"version_id": version_id, "environment": environment}
    totals = analytics_selectors.Totals()
    latencies = histogram.empty()
    kept = tuple((start, end) for start, end in spans if start < end)
    with one_snapshot():  # the rollups as one moment saw them (see analytics.services)
        for start, end in kept:
            window = analytics_selectors.window_to_read(scope, Window(start, end))
            raw = analytics_selectors.raw_rows(scope, window)
            found = analytics_selectors.stat_totals(scope, window, raw=raw).get(())
            if found is not None:
                totals = analytics_selectors.Totals(totals.sums + found.sums)
            latencies = latencies + analytics_selectors.latency_histograms(scope, window, raw=raw).get(
                (), histogram.empty()
            )
    return Performance(
        spans=kept,
        executions=int(totals.executions),
        success_rate=totals.rate(totals.successes, totals.executions),
        error_rate=totals.rate(totals.failures, totals.executions),
        average_response_time=totals.average(totals.response_time_sum, totals.executions, 2),
        p95_response_time=histogram.percentile(latencies, 95),
        average_cost=totals.average(totals.cost, totals.executions, 6),
    )


def spans_live(version_id: UUID, environment: str, *, now: datetime | None = None) -> list[tuple[datetime, datetime]]:
    """When the version was live in the environment: each deployment's [became active, stopped), oldest first
    (now for the one still active)."""
    moment = now or timezone.now()
    return [
        (start, end or moment)
        for start, end in Deployment.objects.filter(version_id=version_id, environment=environment)
        .order_by("deployed_at")
        .values_list("deployed_at", "ended_at")
    ]


def metrics_since_active(deployment: Deployment, *, now: datetime | None = None) -> dict[str, Any]:
    """The deployment's version's numbers since it became active (what a rollback record keeps)."""
    moment = now or timezone.now()
    return performance_in(deployment.version_id, deployment.environment, [(deployment.deployed_at, moment)]).to_json()


@dataclass(frozen=True)
class InterfaceChange:
    """What callers of the current version meet when the target serves instead."""

    step: str | None  # the version step the change would need: major, minor, patch (None: no change)
    changes: tuple[dict[str, str], ...]  # each change, with the step it needs (templates_app.semver)
    breaking: tuple[str, ...]  # why callers of the current version would fail on the target

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "changes": list(self.changes), "breaking": list(self.breaking)}


def interface_change(current: VersionDefinition, target: VersionDefinition) -> InterfaceChange:
    """The change of the variable interface from `current` to `target`.

    Breaking, for callers of the current version: a variable the target requires that they do not send (it
    is not declared, or only optional, in the current version); a variable of another type (their values
    would be refused); a text prompt turned into a chat prompt or back (they read `rendered` or
    `messages`). Removed variables are not: values of undeclared variables are ignored.
    """
    change = classify_change(current, target)
    before = {spec.name: spec for spec in current.variables}
    breaking = []
    for spec in target.variables:
        old = before.get(spec.name)
        if old is not None and old.type != spec.type:
            breaking.append(
                f"variable '{spec.name}' is of type {old.type} in the current version and {spec.type} in the target: "
                "the values callers send would be refused"
            )
        elif spec.required and old is None:
            breaking.append(
                f"the target requires variable '{spec.name}', which the current version does not declare: "
                "its callers do not send it"
            )
        elif spec.required and old is not None and not old.required:
            breaking.append(
                f"the target requires variable '{spec.name}', which is optional in the current version: "
                "its callers may not send it"
            )
    if current.kind != target.kind:
        breaking.append(
            f"the current version is a {current.kind} prompt and the target a {target.kind} prompt: callers read "
            f"`{'messages' if target.kind == 'chat' else 'rendered'}` instead of "
            f"`{'messages' if current.kind == 'chat' else 'rendered'}`"
        )
    return InterfaceChange(
        step=change.bump.label if change.bump is not None else None,
        changes=tuple(change.summary()),
        breaking=tuple(breaking),
    )


@dataclass(frozen=True)
class RollbackProblem:
    """Why a rollback may not happen: a stable code, the field of the request it is about, and words."""

    code: str
    field: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class RollbackCheck:
    """Whether `target` may replace `current` in `environment` (the rules of a manual rollback)."""

    current: TemplateVersion
    target: TemplateVersion
    environment: str
    active: Deployment | None  # what the current version's template serves there now
    problems: tuple[RollbackProblem, ...]
    interface: InterfaceChange | None  # None for a target of another template
    forced: bool  # a breaking change, let through by a superuser's force

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def only_current_not_active(self) -> bool:
        """The one problem is that something else serves now: a state conflict (409), not bad input (400)."""
        return [problem.code for problem in self.problems] == ["current_not_active"]

    def fields(self) -> dict[str, list[str]]:
        by_field: dict[str, list[str]] = {}
        for problem in self.problems:
            by_field.setdefault(problem.field, []).append(problem.message)
        return by_field


def check_rollback(
    *, current: TemplateVersion, target: TemplateVersion, environment: str, active: Deployment | None, force: bool
) -> RollbackCheck:
    """The one validation of a manual rollback, used by GET /api/rollback/validate and by the rollback itself
    (which calls it again under the template's lock). `force` lets a breaking interface change through; who
    may force is the caller's check (lifecycle.releases.permissions.require_may_force)."""
    problems: list[RollbackProblem] = []
    interface = None
    forced = False
    here = f"in {environment}"
    if target.template_id != current.template_id:
        problems.append(
            RollbackProblem(
                "not_same_template",
                "targetVersionId",
                f"the target is a version of another template than the current version ({current.template_id})",
            )
        )
    elif target.pk == current.pk:
        problems.append(RollbackProblem("same_version", "targetVersionId", "the target is the current version"))
    else:
        if not Deployment.objects.filter(version=target, environment=environment).exists():
            problems.append(
                RollbackProblem(
                    "never_deployed_here",
                    "targetVersionId",
                    f"version {target.number} was never deployed {here}: roll back only to a version that served there",
                )
            )
        if not is_approved_for(target, environment):
            problems.append(
                RollbackProblem(
                    "not_approved", "targetVersionId", f"version {target.number} is not approved for {environment}"
                )
            )
        interface = interface_change(current.definition(), target.definition())
        if interface.breaking and not force:
            problems.append(
                RollbackProblem(
                    "breaking_interface",
                    "targetVersionId",
                    f"version {target.number} breaks the callers of {current.number}: "
                    + "; ".join(interface.breaking)
                    + " (a superuser may force it)",
                )
            )
        forced = bool(interface.breaking) and force
    if active is None or active.version_id != current.pk:
        serving = f"version {active.version.number} is" if active is not None else "nothing is"
        problems.append(
            RollbackProblem(
                "current_not_active",
                "currentVersionId",
                f"version {current.number} is not the active version {here}: {serving} active there",
            )
        )
    return RollbackCheck(current, target, environment, active, tuple(problems), interface, forced)


def active_deployment(template_id: UUID, environment: str, *, lock: bool = False) -> Deployment | None:
    """The template's active deployment in the environment (locked until the transaction ends, if asked)."""
    deployments = Deployment.objects.filter(
        template_id=template_id, environment=environment, state=Deployment.State.ACTIVE
    ).select_related("version")
    if lock:
        deployments = deployments.select_for_update(of=("self",))
    return deployments.first()


@dataclass(frozen=True)
class RollbackValidation:
    """GET /api/rollback/validate's answer: the check, and what callers would see (for a target of the same
    template: the content diff and the target's own numbers from its times in the environment)."""

    check: RollbackCheck
    diff: VersionDiff | None
    target_performance: dict[str, Any] | None  # Performance.to_json()
    target_rolled_back_here: bool

    @property
    def serving_now(self) -> TemplateVersion | None:
        return self.check.active.version if self.check.active is not None else None

    @property
    def rolls_forward(self) -> bool:
        return self.diff is not None and self.check.target.semver > self.check.current.semver


def validate_rollback(
    *, actor: User, current_version_id: UUID, target_version_id: UUID, environment: str, force: bool = False
) -> RollbackValidation:
    """Whether a deployer may roll back from the current to the target version (check_rollback), and its
    impact. VersionNotFound for an unknown id."""
    require_may_roll_back(actor, to="validate a rollback")
    if force:
        require_may_force(actor)
    check_environment(environment)
    current = version_by_id(current_version_id)
    target = version_by_id(target_version_id)
    active = active_deployment(current.template_id, environment)
    check = check_rollback(current=current, target=target, environment=environment, active=active, force=force)
    if target.template_id != current.template_id:
        return RollbackValidation(check, diff=None, target_performance=None, target_rolled_back_here=False)
    return RollbackValidation(
        check,
        diff=diff_versions(current, target),
        target_performance=performance_in(target.pk, environment, spans_live(target.pk, environment)).to_json(),
        target_rolled_back_here=Deployment.objects.filter(
            version=target, environment=environment, state=Deployment.State.ROLLED_BACK
        ).exists(),
    )


def last_good_deployment(current: Deployment, *, automatic: bool) -> Deployment | None:
    """The deployment an emergency or automatic rollback of `current` (the active deployment) returns to: the
    most recent earlier deployment in its environment of another version that was not itself rolled back
    (research 5.3, rules 3 and 4):

    - a version is judged by its last time there: if that ended in a rollback, it is not good (a version
      rolled back by a person, then deployed again and superseded as usual, is good again);
    - never a version a rule rolled back there, whatever happened since (no flapping).

    An automatic rollback also needs the target to be still approved for the environment, older than the
    current version (never roll forward), and not to break the current version's callers. An emergency skips
    those checks (approvals skipped, API.md): a person chose to act at once.
    """
    earlier = (
        Deployment.objects.filter(
            template_id=current.template_id, environment=current.environment, deployed_at__lte=current.deployed_at
        )
        .exclude(pk=current.pk)
        .exclude(version_id=current.version_id)
        .select_related("version")
        .order_by("-deployed_at")
    )
    # Versions a rule rolled back there, ever: one query, so that the walk below can stop at its answer
    # instead of reading a template's whole history (it grows by a deployment at each deploy and rollback).
    rolled_back_by_rule = set(earlier.filter(rolled_back_by_rule=True).values_list("version_id", flat=True))
    judged: set[UUID] = set()
    current_definition = current.version.definition() if automatic else None
    for candidate in earlier.iterator(chunk_size=20):
        if candidate.version_id in judged:
            continue
        judged.add(candidate.version_id)
        if candidate.state == Deployment.State.ROLLED_BACK or candidate.version_id in rolled_back_by_rule:
            continue
        if not automatic:
            return candidate
        if candidate.version.semver >= current.version.semver:
            continue
        if current.environment not in approved_environments({candidate.version_id})[candidate.version_id]:
            continue
        assert current_definition is not None
        if interface_change(current_definition, candidate.version.definition()).breaking:
            continue
        return candidate
    return None


def rollback_event(rollback: Rollback) -> dict[str, Any]:
    """A completed rollback as notifications carry it (the `rollback.completed` event's payload)."""
    return {
        "rollbackId": str(rollback.pk),
        "type": str(rollback.type),
        "templateId": str(rollback.template_id),
        "templateName": rollback.template.name,
        "environment": str(rollback.environment),
        "from": {"versionId": str(rollback.from_version_id), "version": rollback.from_version.number},
        "to": {"versionId": str(rollback.to_version_id), "version": rollback.to_version.number},
        "reason": rollback.reason,
        "initiatedBy": rollback.initiated_by_name,
        "at": iso(rollback.finished_at or rollback.requested_at),
        "evidence": rollback.evidence,
    }


def notification_emails(rollback: Rollback) -> list[str]:
    """Who hears of a rollback: the template's maintainers (and the members of its maintaining groups) and
    the deployers; active users with an email address, each once."""
    concerned = (
        Q(maintained_templates=rollback.template_id)
        | Q(groups__maintained_templates=rollback.template_id)
        | Q(groups__name=Role.DEPLOYER)
    )
    people = User.objects.filter(concerned, is_active=True).exclude(email="")
    return sorted(set(people.values_list("email", flat=True)))
