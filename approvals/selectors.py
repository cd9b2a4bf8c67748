"""Reads of approval workflows: what is approved where, what waits for whom, and each request's story."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from approvals.exceptions import ApprovalRequestNotFound
from approvals.models import ApprovalComment, ApprovalRequest, ApprovalStage
from approvals.permissions import require_may_read_queue
from lifecycle.core.audit import AuditEntry, entries_from_history
from lifecycle.core.environments import Environment, check_environment
from lifecycle.core.exceptions import InvalidInput
from lifecycle.core.roles import Role, User, has_role
from templates_app.permissions import templates_changeable_by


def approved_environments(version_ids: Iterable[UUID]) -> dict[UUID, tuple[str, ...]]:
    """The environments each version may be deployed to: development always (every new version is
    active there at once), others once a request for them was approved."""
    ids = list(version_ids)
    approved: dict[UUID, set[str]] = {version_id: {Environment.DEVELOPMENT} for version_id in ids}
    for version_id, environment in ApprovalRequest.objects.filter(
        version_id__in=ids, state=ApprovalRequest.State.APPROVED
    ).values_list("version_id", "environment"):
        approved[version_id].add(environment)
    order = Environment.values
    return {version_id: tuple(sorted(envs, key=order.index)) for version_id, envs in approved.items()}


def _current_stage() -> QuerySet[ApprovalStage]:
    return ApprovalStage.objects.filter(request=OuterRef("pk"), state=ApprovalStage.State.WAITING).order_by("index")


def pending_with_current_stage() -> QuerySet[ApprovalRequest]:
    """Pending requests, each annotated with its current stage and since when that stage has waited."""
    last_decision = (
        ApprovalStage.objects.filter(request=OuterRef("pk"), decided_at__isnull=False)
        .values("request")
        .annotate(at=Max("decided_at"))
        .values("at")
    )
    return (
        ApprovalRequest.objects.filter(state=ApprovalRequest.State.PENDING)
        .annotate(
            current_index=Subquery(_current_stage().values("index")[:1]),
            current_role_id=Subquery(_current_stage().values("role")[:1]),
            current_role=Subquery(_current_stage().values("role__name")[:1]),
            waiting_since=Coalesce(Subquery(last_decision[:1]), "submitted_at"),
        )
        .select_related("version__template", "submitted_by")
    )


def review_queue(*, actor: User, reviewer_username: str | None = None) -> QuerySet[ApprovalRequest]:
    """What waits for a reviewer (the actor by default), as requests_waiting_for: a reviewer reads their
    own queue, a superuser anyone's (approvals.permissions)."""
    if reviewer_username is None or reviewer_username == actor.get_username():
        return requests_waiting_for(actor)
    require_may_read_queue(actor, None)  # someone else's: refused before the name is even looked up
    reviewer = User.objects.filter(username=reviewer_username).first()
    if reviewer is None:
        raise InvalidInput.at("approverId", "no user with this username")
    return requests_waiting_for(reviewer)


def requests_waiting_for(user: User) -> QuerySet[ApprovalRequest]:
    """The pending requests whose current stage `user` may decide, oldest first: they hold the stage's role
    (superusers hold every role), did not write the version, and decided no other stage of it."""
    requests = pending_with_current_stage().exclude(version__created_by=user).exclude(stages__decided_by=user)
    if not user.is_superuser:
        group_ids = list(user.groups.values_list("pk", flat=True))
        requests = requests.filter(current_role_id__in=group_ids)  # type: ignore[misc]  # annotated above
    return requests.order_by("waiting_since", "submitted_at")  # type: ignore[misc]  # annotated above


def reviewers_for(request: ApprovalRequest, stage: ApprovalStage) -> list[User]:
    """Who may decide `stage` now: active members of its role, not the version's author, not a decider
    of another stage of the request."""
    deciders = request.stages.exclude(decided_by=None).values_list("decided_by", flat=True)
    return list(
        User.objects.filter(is_active=True, groups=stage.role_id)
        .exclude(pk=request.version.created_by_id)
        .exclude(pk__in=deciders)
        .order_by("username")
    )


def request_id_for(version_id: UUID, environment: str | None) -> UUID:
    """The version's request in the environment that a decision or comment is about: the pending one, else
    the latest one. `environment` may be left out when only one environment has a pending request."""
    requests = ApprovalRequest.objects.filter(version_id=version_id)
    if environment is not None:
        check_environment(environment)
        requests = requests.filter(environment=environment)
    pending = list(requests.filter(state=ApprovalRequest.State.PENDING).values_list("pk", flat=True))
    if len(pending) > 1:
        raise InvalidInput.at("environment", "this version waits for approval in several environments: say which")
    if pending:
        return pending[0]
    latest = requests.order_by("-submitted_at").values_list("pk", flat=True).first()
    if latest is None:
        raise ApprovalRequestNotFound()
    return latest


def request_by_id(request_id: UUID) -> ApprovalRequest:
    request = (
        ApprovalRequest.objects.select_related("version__template", "submitted_by")
        .prefetch_related("stages__decided_by", "stages__role", "comments__author")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise ApprovalRequestNotFound("No approval request with this id.")
    return request


@dataclass(frozen=True)
class WorkflowEvent:
    """One step of a request's story: a submission, a decision, a comment, its end."""

    at: datetime
    by: str | None
    event: str
    stage_index: int | None
    comment: str


def workflow_history(request: ApprovalRequest) -> list[WorkflowEvent]:
    """Everything that happened to the request, in order."""
    events = [WorkflowEvent(request.submitted_at, request.submitted_by.get_username(), "submitted", None, "")]
    for record in request.history.filter(history_type="~").select_related("history_user").order_by("history_id"):
        if record.state != ApprovalRequest.State.PENDING:
            by = record.history_user.get_username() if record.history_user else None
            events.append(WorkflowEvent(record.history_date, by, record.state, None, ""))
    for stage in request.stages.all():
        if stage.decided_at is not None:
            by = stage.decided_by.get_username() if stage.decided_by else None
            events.append(WorkflowEvent(stage.decided_at, by, f"stage {stage.state}", stage.index, stage.comment))
    for comment in request.comments.all():
        events.append(WorkflowEvent(comment.created_at, comment.author.get_username(), "commented", None, comment.body))
    # Equal instants keep the order above: a stage's decision is recorded before the request's end.
    return sorted(events, key=lambda event: event.at)


def audit_entries_for_template(template_id: UUID) -> list[AuditEntry]:
    """Approval requests of the template's versions, their stages' decisions, and comments, oldest first."""
    request_records = (
        ApprovalRequest.history.filter(version__template_id=template_id)
        .select_related("history_user", "version")
        .order_by("history_date", "history_id")
    )
    stage_records = (  # decisions only: the stages' opening is the request's
        ApprovalStage.history.filter(request__version__template_id=template_id, history_type="~")
        .select_related("history_user", "request__version", "role")
        .order_by("history_date", "history_id")
    )

    def describe_request(record: Any, action: str) -> str:
        what = f"approval of version {record.version.number} for {record.environment}"
        return f"{what} requested" if action == "created" else f"{what} {record.state}"

    def describe_stage(record: Any, action: str) -> str:
        request = record.request
        comment = f": {record.comment}" if record.comment else ""
        return (
            f"stage {record.index + 1} ({record.role.name}) of {request.version.number} for {request.environment} "
            f"{record.state}{comment}"
        )

    entries = entries_from_history(
        request_records, subject="approval", describe=describe_request, ignore_fields=["decided_at"]
    )
    entries += entries_from_history(
        stage_records,
        subject="approval stage",
        describe=describe_stage,
        ignore_fields=["decided_at", "decided_by", "comment"],
    )
    for comment in ApprovalComment.objects.filter(request__version__template_id=template_id).select_related(
        "author", "request__version"
    ):
        entries.append(
            AuditEntry(
                at=comment.created_at,
                by=comment.author.get_username(),
                subject="approval comment",
                subject_id=str(comment.request_id),
                action="created",
                summary=f"comment on version {comment.request.version.number} for {comment.request.environment}",
                changes=[{"field": "comment", "from": None, "to": comment.body}],
            )
        )
    return entries


@dataclass(frozen=True)
class NextStep:
    """Who acts next on a request, for its page to say (lifecycle.releases adds the deployment part).

    pending: `stage` waits, decided by one of `reviewers`; approved: `ended_by` approved the last stage
    (a deployer acts next); rejected: `stage` was rejected by `ended_by` (the author may resubmit);
    cancelled: withdrawn by `ended_by`. `later_request`: a newer request for the same version and
    environment, which took over (the author resubmitted)."""

    state: str
    stage_count: int
    stage: ApprovalStage | None = None
    reviewers: tuple[str, ...] = ()
    ended_by: str | None = None
    ended_at: datetime | None = None
    later_request: ApprovalRequest | None = None


def next_step_of(request: ApprovalRequest) -> NextStep:
    """Where the request stands and who acts next on it."""
    stages = list(request.stages.select_related("role", "decided_by").order_by("index"))
    state = request.state
    later = None
    if state in (ApprovalRequest.State.REJECTED, ApprovalRequest.State.CANCELLED):
        later = (
            ApprovalRequest.objects.filter(
                version_id=request.version_id, environment=request.environment, submitted_at__gt=request.submitted_at
            )
            .order_by("-submitted_at")
            .first()
        )
    if state == ApprovalRequest.State.PENDING:
        stage = next((s for s in stages if s.state == ApprovalStage.State.WAITING), None)
        names = tuple(user.get_username() for user in reviewers_for(request, stage)) if stage else ()
        return NextStep(state, len(stages), stage=stage, reviewers=names)
    if state == ApprovalRequest.State.CANCELLED:
        record = (
            request.history.filter(state=ApprovalRequest.State.CANCELLED)
            .select_related("history_user")
            .order_by("history_id")
            .first()
        )
        by = record.history_user.get_username() if record is not None and record.history_user else None
        return NextStep(state, len(stages), ended_by=by, ended_at=request.decided_at, later_request=later)
    decided = [s for s in stages if s.decided_at is not None]
    last = decided[-1] if decided else None
    by = last.decided_by.get_username() if last is not None and last.decided_by else None
    return NextStep(state, len(stages), stage=last, ended_by=by, ended_at=request.decided_at, later_request=later)


def requests_concerning(user: User) -> QuerySet[ApprovalRequest]:
    """The requests a user has a part in, for their list: those with a stage one of their roles decides
    (reviewers), those of templates they may change (authors), approved ones (deployers deploy them); every
    request for superusers. Each request's own page stays readable to everyone signed in, as over the API."""
    if user.is_superuser:
        return ApprovalRequest.objects.all()
    concerning = Q(stages__role__in=user.groups.all()) | Q(version__template__in=templates_changeable_by(user))
    if has_role(user, Role.DEPLOYER):
        concerning |= Q(state=ApprovalRequest.State.APPROVED)
    return ApprovalRequest.objects.filter(pk__in=ApprovalRequest.objects.filter(concerning).values("pk"))
