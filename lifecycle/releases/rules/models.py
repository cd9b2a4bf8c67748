"""Trigger rules, their running state, every evaluation worth keeping, and the alerts they fired.

Loaded by lifecycle/releases/models.py (app label `releases`)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from lifecycle.core.environments import Environment
from lifecycle.core.ids import uuid7
from lifecycle.core.outbox.webhooks import new_webhook_secret
from lifecycle.releases.rules.definitions import (
    DEFAULT_CONSECUTIVE_BREACHES,
    DEFAULT_COOLDOWN_MINUTES,
    DEFAULT_MIN_EXECUTIONS,
    DEFAULT_WINDOW_MINUTES,
    Action,
    Baseline,
    Metric,
    Operator,
    describe,
)


class TriggerRule(models.Model):
    """A watch on one metric of the active deployment of a template in an environment (API.md, "Rollback")."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template = models.ForeignKey("templates_app.PromptTemplate", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=20, choices=Environment.choices)
    metric = models.CharField(max_length=30, choices=Metric.choices)
    operator = models.CharField(max_length=2, choices=Operator.choices)
    threshold = models.FloatField()
    baseline = models.CharField(max_length=20, choices=Baseline.choices, default=Baseline.ABSOLUTE)
    window_minutes = models.PositiveIntegerField(default=DEFAULT_WINDOW_MINUTES)
    min_executions = models.PositiveIntegerField(default=DEFAULT_MIN_EXECUTIONS)
    consecutive_breaches = models.PositiveIntegerField(default=DEFAULT_CONSECUTIVE_BREACHES)
    cooldown_minutes = models.PositiveIntegerField(default=DEFAULT_COOLDOWN_MINUTES)
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.ALERT)
    enabled = models.BooleanField(default=False)
    dry_run = models.BooleanField(default=False)
    # previous_version only: one-sided level (None: by action, definitions.DEFAULT_ALPHA), and whether the
    # bound (rather than the point estimate) must clear the margin.
    alpha = models.FloatField(null=True, blank=True)
    require_significance = models.BooleanField(default=True)
    notify_emails = models.JSONField(default=list, blank=True)
    notify_webhook_url = models.CharField(max_length=2000, blank=True)
    # Signs this rule's webhook deliveries (HMAC-SHA256); shown once, when the rule is created.
    webhook_secret = models.CharField(max_length=100, default=new_webhook_secret, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords(excluded_fields=["webhook_secret"])

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["enabled", "template", "environment"], name="trigger_rule_enabled")]

    def __str__(self) -> str:
        return describe(self)

    @property
    def description(self) -> str:
        return describe(self)


class TriggerState(models.Model):
    """Where a rule stands: its streak of breaches on one deployment, whether this breach episode has
    fired, its cooldown, the last tick it evaluated and what it found, and the frozen baseline. Changed by the engine
    (services.evaluate_pair) and reset by an edit that changes what the rule measures, both under the
    template's lock; not history-tracked (it changes every tick: the evaluations are its record)."""

    rule = models.OneToOneField(TriggerRule, primary_key=True, on_delete=models.CASCADE, related_name="state")
    deployment_id = models.UUIDField(null=True)  # the deployment the streak and baseline are about
    streak = models.PositiveIntegerField(default=0)
    episode_fired = models.BooleanField(default=False)
    cooldown_until = models.DateTimeField(null=True)
    last_tick = models.DateTimeField(null=True)
    # The last evaluation's status on this deployment: a rule that stays "ok", or stays short of data, is
    # not written again until that changes (evaluation._quiet); "" before its first.
    last_status = models.CharField(max_length=20, blank=True, default="")
    baseline = models.JSONField(null=True)  # frozen at first use for the deployment (previous_version)

    def __str__(self) -> str:
        return f"streak {self.streak} of rule {self.rule_id}"


class TriggerEvaluation(models.Model):
    """One evaluation of a rule that was not a plain "ok": append-only evidence. The rule as it was then is
    its historical record (`rule_history`), so editing or deleting the rule later rewrites nothing."""

    class Status(models.TextChoices):
        OK = "ok"
        BREACH = "breach"
        INSUFFICIENT_DATA = "insufficient_data"
        ERROR = "error"

    class Decision(models.TextChoices):
        NONE = "none"
        FIRE = "fire"
        DRY_RUN = "dry_run"
        COOLDOWN = "cooldown"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)  # time-ordered
    rule_id = models.UUIDField()  # plain: evidence outlives a deleted rule
    rule_history = models.ForeignKey("releases.HistoricalTriggerRule", on_delete=models.PROTECT, related_name="+")
    deployment = models.ForeignKey("releases.Deployment", on_delete=models.PROTECT, related_name="+")
    # The tick the window ends at (the beat's moment, floored to ROLLBACK_EVALUATION_SECONDS): the key
    # that makes an evaluation happen once however often its task runs.
    tick = models.DateTimeField()
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    evaluated_at = models.DateTimeField(default=timezone.now)
    executions = models.PositiveIntegerField(default=0)  # in the window
    sample_size = models.PositiveIntegerField(default=0)  # what minExecutions counts
    baseline_size = models.PositiveIntegerField(null=True)
    observed = models.FloatField(null=True)  # in the metric's API unit
    baseline_value = models.FloatField(null=True)
    estimate = models.FloatField(null=True)  # previous_version: relative change (0.5 = +50 %)
    bound = models.FloatField(null=True)  # its one-sided (1 - alpha) bound
    p_value = models.FloatField(null=True)
    alpha = models.FloatField(null=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    streak = models.PositiveIntegerField()  # after this evaluation
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.NONE)
    detail = models.JSONField(default=dict)  # how it was computed: test, fallbacks, why data was insufficient
    task_id = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-tick", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule_id", "deployment", "tick"], name="one_evaluation_per_tick"),
        ]
        indexes = [models.Index(fields=["rule_id", "deployment", "-tick"], name="trigger_evaluation_rule")]

    def __str__(self) -> str:
        return f"{self.status} at {self.tick:%Y-%m-%d %H:%M:%S} ({self.decision})"


class Alert(models.Model):
    """A rule that fired: what it saw (evidence), and what was done about it."""

    class Outcome(models.TextChoices):
        ALERTED = "alerted"  # an alert rule: notified
        ROLLED_BACK = "rolled_back"  # a rollback rule whose rollback happened
        ALERTED_INSTEAD = "alerted_instead"  # a rollback rule whose rollback did not happen

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)  # time-ordered
    rule_id = models.UUIDField()
    rule_history = models.ForeignKey("releases.HistoricalTriggerRule", on_delete=models.PROTECT, related_name="+")
    template = models.ForeignKey("templates_app.PromptTemplate", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=20, choices=Environment.choices)
    deployment = models.ForeignKey("releases.Deployment", on_delete=models.PROTECT, related_name="+")
    # The automatic rollback this alert's rule made (outcome rolled_back), for its evidence and its check.
    rollback = models.ForeignKey("releases.Rollback", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    metric = models.CharField(max_length=30, choices=Metric.choices)
    action = models.CharField(max_length=10, choices=Action.choices)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    outcome_detail = models.CharField(max_length=500, blank=True)
    rule_label = models.CharField(max_length=500)
    summary = models.TextField()
    evidence = models.JSONField()
    fired_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-fired_at", "-id"]
        indexes = [models.Index(fields=["template", "-fired_at"], name="alert_template_time")]

    def __str__(self) -> str:
        return self.summary
