import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from approvals.models import ApprovalRequest
from lifecycle.core.environments import Environment

# A rollback's reason, and so a deployment's: long enough for a sentence and a link, short enough to list.
REASON_MAX_LENGTH = 1000
# Who acted, when no user did: an automatic rollback's rule ("system:rule:<id>").
ACTOR_LABEL_MAX_LENGTH = 100


class Deployment(FSMModelMixin, models.Model):
    """A version serving one environment: active until another supersedes it or it is rolled back."""

    class State(models.TextChoices):
        ACTIVE = "active"
        SUPERSEDED = "superseded"
        ROLLED_BACK = "rolled_back"

    class Kind(models.TextChoices):
        """How the version became active. An A/B test's promotion will be one more kind."""

        DEPLOY = "deploy"  # the version's first time in this environment
        REDEPLOY = "redeploy"  # it was active here before, and still approved for here
        MANUAL_ROLLBACK = "manual_rollback"  # a deployer chose it (POST /api/rollback/initiate)
        EMERGENCY_ROLLBACK = "emergency_rollback"  # the last good version, without approvals
        AUTOMATIC_ROLLBACK = "automatic_rollback"  # a rule chose the last good version

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template = models.ForeignKey("templates_app.PromptTemplate", on_delete=models.PROTECT, related_name="deployments")
    version = models.ForeignKey("templates_app.TemplateVersion", on_delete=models.PROTECT, related_name="deployments")
    environment = models.CharField(max_length=20, choices=Environment.choices)
    state = FSMField(choices=State.choices, default=State.ACTIVE, protected=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.DEPLOY)
    # A user, or (automatic rollbacks) nobody and a label naming the rule.
    deployed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    deployed_by_label = models.CharField(max_length=ACTOR_LABEL_MAX_LENGTH, blank=True)
    deployed_at = models.DateTimeField(default=timezone.now)
    # Why it became active: the reason of the rollback that made it so (empty for a deploy).
    reason = models.CharField(max_length=REASON_MAX_LENGTH, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ended_by_label = models.CharField(max_length=ACTOR_LABEL_MAX_LENGTH, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # A rule rolled it back: its version is never again the target of an automatic rollback here
    # (../shared/research/experiments-and-rollback.md 5.3, "no flapping").
    rolled_back_by_rule = models.BooleanField(default=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-deployed_at"]
        constraints = [
            # The database, not only the code, keeps one active deployment per template and environment.
            # Its index is also what the render path looks the active version up by.
            models.UniqueConstraint(
                fields=["template", "environment"],
                condition=models.Q(state="active"),
                name="one_active_deployment_per_environment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.version} in {self.environment} ({self.state})"

    @transition(field=state, source=State.ACTIVE, target=State.SUPERSEDED)
    def supersede(self, *, by: Any) -> None:
        self.ended_by, self.ended_at = by, timezone.now()

    @transition(field=state, source=State.ACTIVE, target=State.ROLLED_BACK)
    def roll_back(self, *, by: Any, label: str = "", by_rule: bool = False) -> None:
        self.ended_by, self.ended_by_label, self.ended_at = by, label, timezone.now()
        self.rolled_back_by_rule = by_rule

    @property
    def deployed_by_name(self) -> str:
        """Who made it active: a username, or the rule's label."""
        return self.deployed_by.get_username() if self.deployed_by is not None else self.deployed_by_label

    @property
    def ended_by_name(self) -> str | None:
        """Who ended it (None while it is active): a username, or the rule's label."""
        if self.ended_by is not None:
            return self.ended_by.get_username()
        return self.ended_by_label or None


ROLLBACK_KINDS = (
    Deployment.Kind.MANUAL_ROLLBACK,
    Deployment.Kind.EMERGENCY_ROLLBACK,
    Deployment.Kind.AUTOMATIC_ROLLBACK,
)


class Rollback(FSMModelMixin, models.Model):
    """One rollback of a template in an environment: from the deployment that was active to the version that
    replaced it, who or which rule asked, why, the numbers of that moment, and whether render served the
    target afterwards."""

    class Type(models.TextChoices):
        MANUAL = "manual"
        EMERGENCY = "emergency"
        AUTOMATIC = "automatic"

    class State(models.TextChoices):
        PENDING = "pending"
        EXECUTING = "executing"
        COMPLETED = "completed"
        FAILED = "failed"

    IN_PROGRESS = (State.PENDING, State.EXECUTING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=20, choices=Type.choices)
    template = models.ForeignKey("templates_app.PromptTemplate", on_delete=models.PROTECT, related_name="rollbacks")
    environment = models.CharField(max_length=20, choices=Environment.choices)
    from_deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="rollbacks_from")
    from_version = models.ForeignKey("templates_app.TemplateVersion", on_delete=models.PROTECT, related_name="+")
    # The deployment it made active (none for a failed one).
    to_deployment = models.OneToOneField(
        Deployment, null=True, blank=True, on_delete=models.PROTECT, related_name="rollback"
    )
    to_version = models.ForeignKey("templates_app.TemplateVersion", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=REASON_MAX_LENGTH)
    # A user, or (automatic rollbacks) nobody and the rule's label, "system:rule:<id>".
    initiated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    initiated_by_label = models.CharField(max_length=ACTOR_LABEL_MAX_LENGTH, blank=True)
    # A superuser rolled back to a version whose variables break the current version's callers.
    forced = models.BooleanField(default=False)
    # The current version's numbers since it became active, as they were at that moment.
    metrics = models.JSONField(default=dict, blank=True)
    # What made a rule act (its breaching evaluations, the baseline): frozen, so later rule edits leave it.
    evidence = models.JSONField(default=dict, blank=True)
    state = FSMField(choices=State.choices, default=State.PENDING, protected=True)
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=REASON_MAX_LENGTH, blank=True)
    # The post-rollback check: the version render's own lookup answered, and when.
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_version = models.ForeignKey(
        "templates_app.TemplateVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            # At most one rollback in progress per template and environment (research 5.3, rule 1): the
            # loser of a race is refused by the database, whatever the code that raced.
            models.UniqueConstraint(
                fields=["template", "environment"],
                condition=models.Q(state__in=["pending", "executing"]),
                name="one_rollback_in_progress_per_environment",
            ),
        ]
        indexes = [models.Index(fields=["template", "-requested_at"], name="rollback_template_newest")]

    def __str__(self) -> str:
        return f"{self.type} rollback of {self.template.name} in {self.environment} ({self.state})"

    @property
    def initiated_by_name(self) -> str:
        return self.initiated_by.get_username() if self.initiated_by is not None else self.initiated_by_label

    @property
    def serves_target(self) -> bool | None:
        """Whether the post-rollback check found the target served (None: not checked)."""
        if self.verified_at is None:
            return None
        return self.verified_version_id == self.to_version_id

    @transition(field=state, source=State.PENDING, target=State.EXECUTING)
    def start(self) -> None:
        self.started_at = timezone.now()

    @transition(field=state, source=State.EXECUTING, target=State.COMPLETED)
    def complete(self, *, to_deployment: Deployment) -> None:
        self.to_deployment, self.finished_at = to_deployment, timezone.now()

    @transition(field=state, source=[State.PENDING, State.EXECUTING], target=State.FAILED)
    def fail(self, *, why: str) -> None:
        self.failure_reason, self.finished_at = why[:REASON_MAX_LENGTH], timezone.now()


class ReadyToDeploy(ApprovalRequest):
    """The deployers' admin queue: approved requests whose version is not deployed to their environment yet
    (lifecycle.releases.selectors.ready_to_deploy)."""

    class Meta:
        proxy = True
        verbose_name = "request ready to deploy"
        verbose_name_plural = "ready to deploy"


class AccessReview(User):
    """The admin's access review page for superusers (lifecycle.releases.access): a view of the users, no
    table of its own."""

    class Meta:
        proxy = True
        verbose_name = "access review"
        verbose_name_plural = "access review"


# Trigger rules, their evaluations and alerts (lifecycle.releases.rules), loaded with this app's models.
class TemplateSet(models.Model):
    """The templates a client renders together in an environment, registered once (`POST
    /api/templates/bundle`): its refreshes are then short conditional GETs of the set's bundle however many
    templates it holds. Named by a digest of what it holds, so every client with the same set, on any web
    process, shares one row; never changed."""

    id = models.CharField(max_length=64, primary_key=True)
    environment = models.CharField(max_length=20, choices=Environment.choices)
    references = models.JSONField()  # template ids or names, as the client asked
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{len(self.references)} templates in {self.environment}"


from lifecycle.releases.rules.models import Alert, TriggerEvaluation, TriggerRule, TriggerState  # noqa: E402

__all__ = ["AccessReview", "Alert", "Deployment", "ReadyToDeploy", "TriggerEvaluation", "TriggerRule", "TriggerState"]
