"""Every write of the approval workflow: submit, decide stages, comment, cancel, remind.

The API and the reviewers' admin both call these, so a decision made in the admin obeys exactly the
checks of one made over the API. Each decision locks its request first: two reviewers pressing
"approve" at the same moment are decided one after the other, the second seeing the first's result.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from approvals.exceptions import (
    AlreadyApproved,
    AlreadyDecidedAStage,
    AlreadyPending,
    ApprovalRequestNotFound,
    NotPending,
    SelfApprovalForbidden,
    StageOutOfOrder,
    WrongRole,
)
from approvals.models import ApprovalComment, ApprovalRequest, ApprovalStage, PolicyStage
from approvals.permissions import require_may_comment
from approvals.selectors import reviewers_for
from lifecycle.core.environments import Environment, check_environment
from lifecycle.core.exceptions import Conflict, DomainError, InvalidInput
from lifecycle.core.roles import User, has_role
from lifecycle.core.webhooks.services import publish
from templates_app.models import TemplateVersion
from templates_app.permissions import require_may_change
from templates_app.selectors import version_by_id
from templates_app.services import version_json

MAX_COMMENT_LENGTH = 10_000
logger = logging.getLogger(__name__)


@transaction.atomic
def submit_for_approval(*, actor: User, version_id: UUID, environment: str) -> ApprovalRequest:
    """Open a request for the version in the environment, with one stage per stage of its policy now.

    Development needs no approval: every new version is active there from its creation. Staging and
    production always do: a policy left without stages is refused, never read as "approve at once".
    """
    check_environment(environment)
    version = version_by_id(version_id)
    require_may_change(actor, version.template, to="submit its versions for approval")
    if environment == Environment.DEVELOPMENT:
        raise AlreadyApproved("Development needs no approval: every new version is active there at once.")
    # Lock the pair's requests: a final approval being committed right now must be seen before we decide
    # that the version still needs a request.
    earlier = list(ApprovalRequest.objects.select_for_update().filter(version=version, environment=environment))
    if any(request.state == ApprovalRequest.State.APPROVED for request in earlier):
        raise AlreadyApproved(f"Version {version.number} is already approved for {environment}.")
    roles = list(
        PolicyStage.objects.filter(policy__environment=environment)
        .order_by("position")
        .values_list("role_id", flat=True)
    )
    if not roles:
        raise Conflict(f"The {environment} policy has no stages; an administrator must give it at least one.")

    request = ApprovalRequest(version=version, environment=environment, submitted_by=actor)
    request._history_user = actor  # type: ignore[attr-defined]
    try:
        with transaction.atomic():  # a savepoint: the unique pending request may be taken meanwhile
            request.save()
    except IntegrityError:
        raise AlreadyPending(f"Version {version.number} already waits for approval in {environment}.") from None
    for index, role_id in enumerate(roles):
        stage = ApprovalStage(request=request, index=index, role_id=role_id)
        stage._history_user = actor  # type: ignore[attr-defined]
        stage.save()
    _publish("approval.submitted", request, actor)
    return request


@transaction.atomic
def approve_stage(*, actor: User, request_id: UUID, stage_index: int, comment: str = "") -> ApprovalRequest:
    """Approve the request's current stage; approving the last one approves the request."""
    request = _pending_request_locked(request_id)
    stage = _stage_to_decide(request, stage_index, actor)
    stage.approve(by=actor, comment=_checked_comment(comment, required=False))
    _save(stage, actor)
    _publish("approval.stage_decided", request, actor, stage)
    if not request.stages.filter(state=ApprovalStage.State.WAITING).exists():
        request.approve()
        _save(request, actor)
        _publish("approval.approved", request, actor)
    return request


@transaction.atomic
def reject_stage(*, actor: User, request_id: UUID, stage_index: int, comment: str) -> ApprovalRequest:
    """Reject the current stage, and so the request; the comment says why. The author may submit again."""
    comment = _checked_comment(comment, required=True)
    request = _pending_request_locked(request_id)
    stage = _stage_to_decide(request, stage_index, actor)
    stage.reject(by=actor, comment=comment)
    _save(stage, actor)
    _publish("approval.stage_decided", request, actor, stage)
    request.reject()
    _save(request, actor)
    _publish("approval.rejected", request, actor)
    return request


@transaction.atomic
def cancel_request(*, actor: User, request_id: UUID) -> ApprovalRequest:
    """Withdraw a pending request: by an author who maintains the template, or a superuser."""
    request = _pending_request_locked(request_id)
    require_may_change(actor, request.version.template, to="withdraw its approval requests")
    request.cancel()
    _save(request, actor)
    return request


def add_comment(*, actor: User, request_id: UUID, body: str) -> ApprovalComment:
    """A comment on the request (approvals.permissions says who may comment)."""
    body = _checked_comment(body, required=True, field="comment")
    request = ApprovalRequest.objects.select_related("version__template").filter(pk=request_id).first()
    if request is None:
        raise ApprovalRequestNotFound("No approval request with this id.")
    require_may_comment(actor, request)
    return ApprovalComment.objects.create(request_id=request_id, author=actor, body=body)


def remind_pending_reviewers(*, now: datetime | None = None) -> int:
    """Email the reviewers of every request pending longer than APPROVAL_REMINDER_AFTER_HOURS, at most once
    per request per that period. Returns how many requests were reminded.

    Safe to run twice or concurrently: each request is claimed by a conditional update, committed before
    any email goes out (so no lock is held while a mail server answers). If sending fails, the claim is
    given back, so that the next run tries again, and the other requests are still reminded.
    """
    now = now or timezone.now()
    period = timedelta(hours=settings.APPROVAL_REMINDER_AFTER_HOURS)
    due = Q(state=ApprovalRequest.State.PENDING, submitted_at__lte=now - period) & (
        Q(reminded_at__isnull=True) | Q(reminded_at__lte=now - period)
    )
    reminded = 0
    for request_id, last_reminded_at in ApprovalRequest.objects.filter(due).values_list("pk", "reminded_at"):
        if not ApprovalRequest.objects.filter(due, pk=request_id).update(reminded_at=now):
            continue  # another worker claimed it a moment ago
        try:
            _send_reminder(request_id, now)
        except Exception:
            logger.exception("reminder for approval request %s not sent; the next run tries again", request_id)
            ApprovalRequest.objects.filter(pk=request_id, reminded_at=now).update(reminded_at=last_reminded_at)
            continue
        reminded += 1
    return reminded


def _send_reminder(request_id: UUID, now: datetime) -> None:
    request = ApprovalRequest.objects.select_related("version__template").get(pk=request_id)
    stage = request.stages.select_related("role").filter(state=ApprovalStage.State.WAITING).order_by("index").first()
    if stage is None:
        return
    messages = [
        (_reminder_subject(request, stage), _reminder_body(request, stage, now), None, [reviewer.email])
        for reviewer in reviewers_for(request, stage)
        if reviewer.email
    ]
    send_mass_mail(messages, fail_silently=False)


def _reminder_subject(request: ApprovalRequest, stage: ApprovalStage) -> str:
    version = request.version
    return f"Waiting for your review: {version.template.name} {version.number} for {request.environment}"


def _reminder_body(request: ApprovalRequest, stage: ApprovalStage, now: datetime) -> str:
    version = request.version
    hours = int((now - request.submitted_at).total_seconds() // 3600)
    link = f"{settings.PUBLIC_URL.rstrip('/')}/admin/approvals/approvalrequest/{request.pk}/change/"
    return (
        f"{version.template.name} {version.number} has waited {hours} hours for approval in "
        f"{request.environment}. Its stage {stage.index + 1} is decided by the '{stage.role.name}' role, "
        "which you hold.\n\n"
        f"Review it here: {link}\n"
    )


def _publish(event: str, request: ApprovalRequest, actor: User, stage: ApprovalStage | None = None) -> None:
    """The request's event for webhook subscribers, in the transaction of the change."""
    version = request.version
    data: dict[str, Any] = {
        "template": {"id": version.template_id, "name": version.template.name},
        "version": version_json(version),
        "request": {"id": request.pk, "environment": request.environment, "status": request.state},
    }
    if stage is not None:
        data["stage"] = {
            "index": stage.index,
            "role": stage.role.name,
            "decision": stage.state,
            "comment": stage.comment,
        }
    publish(event=event, actor=actor, template_id=version.template_id, data=data)


def _save(obj: ApprovalRequest | ApprovalStage, actor: User) -> None:
    obj._history_user = actor  # type: ignore[union-attr]
    obj.save()


def _checked_comment(comment: Any, *, required: bool, field: str = "data.comment") -> str:
    if not isinstance(comment, str):
        raise InvalidInput.at(field, "must be a string")
    comment = comment.strip()
    if required and not comment:
        raise InvalidInput.at(field, "is required: say why")
    if len(comment) > MAX_COMMENT_LENGTH:
        raise InvalidInput.at(field, f"must be at most {MAX_COMMENT_LENGTH} characters")
    return comment


def _pending_request_locked(request_id: UUID) -> ApprovalRequest:
    """The request, locked until the transaction ends, if it still waits for decisions."""
    request = (
        ApprovalRequest.objects.select_for_update(of=("self",)).select_related("version").filter(pk=request_id).first()
    )
    if request is None:
        raise ApprovalRequestNotFound("No approval request with this id.")
    if request.state != ApprovalRequest.State.PENDING:
        raise NotPending(f"This request is {request.state}: nothing waits for a decision.")
    return request


def refusal_to_decide(*, actor: User, request: ApprovalRequest, stage_index: int) -> DomainError | None:
    """Why `actor` may not decide stage `stage_index` of the request now, or None if they may: the rules
    approve_stage and reject_stage enforce (there under the request's lock), for a page that offers the
    decision only to whoever may take it."""
    if request.state != ApprovalRequest.State.PENDING:
        return NotPending(f"This request is {request.state}: nothing waits for a decision.")
    stages = list(request.stages.select_related("role").order_by("index"))
    return _refusal(request, stages, stage_index, actor)


def _stage_to_decide(request: ApprovalRequest, stage_index: int, actor: User) -> ApprovalStage:
    """The stage `actor` may decide now, or the error saying why not (checked under the request's lock)."""
    stages = list(request.stages.select_related("role").order_by("index"))
    refusal = _refusal(request, stages, stage_index, actor)
    if refusal is not None:
        raise refusal
    return next(stage for stage in stages if stage.index == stage_index)


def _refusal(
    request: ApprovalRequest, stages: list[ApprovalStage], stage_index: int, actor: User
) -> DomainError | None:
    """Each rule of deciding a stage, once: order, role, author, one decider per stage."""
    stage = next((s for s in stages if s.index == stage_index), None)
    if stage is None:
        return InvalidInput.at("data.stageIndex", f"this request has stages 0 to {len(stages) - 1}")
    version: TemplateVersion = request.version
    if version.created_by_id == actor.pk:
        return SelfApprovalForbidden()
    if not has_role(actor, stage.role.name):
        return WrongRole(f"Stage {stage.index} is decided by the '{stage.role.name}' role.")
    if any(other.decided_by_id == actor.pk for other in stages):
        return AlreadyDecidedAStage()
    current = next((s for s in stages if s.state == ApprovalStage.State.WAITING), None)
    if current is None or current.index != stage.index:
        if stage.state != ApprovalStage.State.WAITING or current is None:
            return StageOutOfOrder(f"Stage {stage.index} is already {stage.state}.")
        return StageOutOfOrder(f"Stage {current.index} ({current.role.name}) is decided before stage {stage.index}.")
    return None
