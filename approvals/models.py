from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from lifecycle.core.environments import Environment


class ApprovalPolicy(models.Model):
    """The review stages a version goes through before it may be deployed to one environment."""

    environment = models.CharField(max_length=20, choices=Environment.choices, unique=True)
    description = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "approval policies"
        ordering = ["environment"]

    def __str__(self) -> str:
        return f"{self.environment} policy"


class PolicyStage(models.Model):
    """One stage of a policy: a role (a group) whose members decide it, in order of `position`."""

    policy = models.ForeignKey(ApprovalPolicy, on_delete=models.CASCADE, related_name="stages")
    position = models.PositiveSmallIntegerField()
    role = models.ForeignKey("auth.Group", on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["policy", "position"]
        constraints = [models.UniqueConstraint(fields=["policy", "position"], name="policy_stage_position_unique")]

    def __str__(self) -> str:
        return f"{self.position}: {self.role.name}"


class ApprovalRequest(FSMModelMixin, models.Model):
    """A version's way through the review stages of one environment, as the policy was when submitted."""

    class State(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.ForeignKey("templates_app.TemplateVersion", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=20, choices=Environment.choices)
    state = FSMField(choices=State.choices, default=State.PENDING, protected=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    # When reviewers of the current stage were last reminded (reminders go out once per period).
    reminded_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(excluded_fields=["reminded_at"])

    class Meta:
        ordering = ["submitted_at"]
        constraints = [
            # At most one request in review per version and environment, whoever submits at the same time.
            models.UniqueConstraint(
                fields=["version", "environment"],
                condition=models.Q(state="pending"),
                name="one_pending_request_per_version_and_environment",
            ),
        ]
        indexes = [models.Index(fields=["version", "environment", "state"], name="approval_request_lookup")]

    def __str__(self) -> str:
        return f"{self.version} for {self.environment} ({self.state})"

    @transition(field=state, source=State.PENDING, target=State.APPROVED)
    def approve(self) -> None:
        self.decided_at = timezone.now()

    @transition(field=state, source=State.PENDING, target=State.REJECTED)
    def reject(self) -> None:
        self.decided_at = timezone.now()

    @transition(field=state, source=State.PENDING, target=State.CANCELLED)
    def cancel(self) -> None:
        self.decided_at = timezone.now()


class ApprovalStage(FSMModelMixin, models.Model):
    """One stage of a request: decided by one member of `role`, once, in order."""

    class State(models.TextChoices):
        WAITING = "waiting"
        APPROVED = "approved"
        REJECTED = "rejected"

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="stages")
    index = models.PositiveSmallIntegerField()
    # Copied from the policy when the request was submitted: later changes of the policy do not reach it.
    # A group, not its name: renaming the group keeps the request decidable by the same people.
    role = models.ForeignKey("auth.Group", on_delete=models.PROTECT, related_name="+")
    state = FSMField(choices=State.choices, default=State.WAITING, protected=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["request", "index"]
        constraints = [models.UniqueConstraint(fields=["request", "index"], name="approval_stage_index_unique")]

    def __str__(self) -> str:
        # As people read it (the inline's row titles): numbered from 1, the API's stageIndex counts from 0.
        return f"stage {self.index + 1} ({self.role.name})"

    @transition(field=state, source=State.WAITING, target=State.APPROVED)
    def approve(self, *, by: Any, comment: str) -> None:
        self.decided_by, self.comment, self.decided_at = by, comment, timezone.now()

    @transition(field=state, source=State.WAITING, target=State.REJECTED)
    def reject(self, *, by: Any, comment: str) -> None:
        self.decided_by, self.comment, self.decided_at = by, comment, timezone.now()


class ApprovalComment(models.Model):
    """A remark on a request by anyone who can see it; comments are never edited."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"comment by {self.author_id} on {self.request_id}"


class ReviewQueue(ApprovalRequest):
    """The admin's queue: requests waiting for the signed-in reviewer (approvals.selectors)."""

    class Meta:
        proxy = True
        verbose_name = "request waiting for me"
        verbose_name_plural = "requests waiting for me"
