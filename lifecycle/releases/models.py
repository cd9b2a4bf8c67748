import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from approvals.models import ApprovalRequest
from lifecycle.core.environments import Environment


class Deployment(FSMModelMixin, models.Model):
    """A version serving one environment: active until another supersedes it or it is rolled back."""

    class State(models.TextChoices):
        ACTIVE = "active"
        SUPERSEDED = "superseded"
        ROLLED_BACK = "rolled_back"

    class Kind(models.TextChoices):
        DEPLOY = "deploy"  # the version's first time in this environment
        REDEPLOY = "redeploy"  # it was active here before, and still approved for here

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template = models.ForeignKey("templates_app.PromptTemplate", on_delete=models.PROTECT, related_name="deployments")
    version = models.ForeignKey("templates_app.TemplateVersion", on_delete=models.PROTECT, related_name="deployments")
    environment = models.CharField(max_length=20, choices=Environment.choices)
    state = FSMField(choices=State.choices, default=State.ACTIVE, protected=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.DEPLOY)
    deployed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    deployed_at = models.DateTimeField(default=timezone.now)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)
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


class ReadyToDeploy(ApprovalRequest):
    """The deployers' admin queue: approved requests whose version is not deployed to their environment yet
    (lifecycle.releases.selectors.ready_to_deploy)."""

    class Meta:
        proxy = True
        verbose_name = "request ready to deploy"
        verbose_name_plural = "ready to deploy"


# Trigger rules, their evaluations and alerts (lifecycle.releases.rules), loaded with this app's models.
from lifecycle.releases.rules.models import Alert, TriggerEvaluation, TriggerRule, TriggerState  # noqa: E402

__all__ = ["Alert", "Deployment", "ReadyToDeploy", "TriggerEvaluation", "TriggerRule", "TriggerState"]
