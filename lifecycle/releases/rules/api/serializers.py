"""The JSON of trigger rules and alerts (API.md, "Rollback"). Inputs check types and state the bounds for
the schema; the service (lifecycle.releases.rules.validation) checks the rule as a whole."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from lifecycle.core.api.inputs import (
    EnvironmentField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictNumberField,
    StrictUUIDField,
)
from lifecycle.core.api.outputs import UsernameField
from lifecycle.core.environments import Environment
from lifecycle.releases.rules.definitions import (
    ALPHA,
    CONSECUTIVE_BREACHES,
    COOLDOWN_MINUTES,
    DAY_MINUTES,
    DEFAULT_CONSECUTIVE_BREACHES,
    DEFAULT_COOLDOWN_MINUTES,
    DEFAULT_MIN_EXECUTIONS,
    DEFAULT_WINDOW_MINUTES,
    MAX_EMAILS,
    MAX_URL_LENGTH,
    MIN_EXECUTIONS,
    WINDOW_MINUTES,
    Action,
    Baseline,
    Metric,
    Operator,
)
from lifecycle.releases.rules.models import Alert, TriggerEvaluation, TriggerRule
from lifecycle.releases.rules.selectors import webhook_url_shown_to

THRESHOLD_HELP = (
    "absolute: in the metric's unit (success_rate and error_rate 0-100 %, p95_response_time ms, average_cost "
    "and daily_cost currency, at least 0; average_satisfaction 1-5), with lt above the smallest value and gt "
    "below the largest; previous_version: the percent change, above 0 and at most 10,000 (below 100 for lt)"
)
METRIC_HELP = (
    "success_rate and error_rate in %, p95_response_time in ms, average_cost per execution, "
    "average_satisfaction 1-5 (its minimum counts satisfaction reports), daily_cost over the last 24 hours"
)


class NotifyInput(serializers.Serializer):
    emails = serializers.ListField(
        child=serializers.EmailField(), max_length=MAX_EMAILS, required=False, help_text="who gets an email"
    )
    webhookUrl = StrictCharField(
        allow_null=True,
        allow_blank=True,
        max_length=MAX_URL_LENGTH,
        required=False,
        help_text="an http(s) URL that receives each alert, signed with the rule's secret",
    )


class RuleFieldsInput(serializers.Serializer):
    """A rule's fields, all optional (PATCH: those given change)."""

    templateId = StrictUUIDField(required=False, help_text="fixed once created: another value is refused")
    environment = EnvironmentField(required=False, help_text="fixed once created: another value is refused")
    metric = serializers.ChoiceField(choices=Metric.choices, required=False, help_text=METRIC_HELP)
    operator = serializers.ChoiceField(choices=Operator.choices, required=False, help_text="the direction of bad")
    threshold = StrictNumberField(required=False, help_text=THRESHOLD_HELP)
    baseline = serializers.ChoiceField(choices=Baseline.choices, required=False)
    windowMinutes = StrictIntegerField(
        min_value=WINDOW_MINUTES[0],
        max_value=WINDOW_MINUTES[1],
        required=False,
        help_text=f"the sliding window (default {DEFAULT_WINDOW_MINUTES}; daily_cost: {DAY_MINUTES})",
    )
    minExecutions = StrictIntegerField(
        min_value=MIN_EXECUTIONS[0],
        max_value=MIN_EXECUTIONS[1],
        required=False,
        help_text=f"fewer in the window (or the baseline) is insufficient_data (default {DEFAULT_MIN_EXECUTIONS})",
    )
    consecutiveBreaches = StrictIntegerField(
        min_value=CONSECUTIVE_BREACHES[0],
        max_value=CONSECUTIVE_BREACHES[1],
        required=False,
        help_text=f"breaching evaluations in a row before it fires (default {DEFAULT_CONSECUTIVE_BREACHES})",
    )
    cooldownMinutes = StrictIntegerField(
        min_value=COOLDOWN_MINUTES[0],
        max_value=COOLDOWN_MINUTES[1],
        required=False,
        help_text=f"silent this long after firing (default {DEFAULT_COOLDOWN_MINUTES})",
    )
    action = serializers.ChoiceField(choices=Action.choices, required=False)
    enabled = StrictBooleanField(required=False)
    dryRun = StrictBooleanField(required=False, help_text="evaluate and record what it would do, never act")
    alpha = StrictNumberField(
        allow_null=True,
        min_value=ALPHA[0],
        max_value=ALPHA[1],
        required=False,
        help_text="previous_version: the one-sided significance level (null: 0.01 for rollback, 0.05 for alert)",
    )
    requireSignificance = StrictBooleanField(
        required=False,
        help_text="previous_version: the test's bound, not only the point estimate, must clear the threshold",
    )
    notify = NotifyInput(required=False)


class RuleCreateInput(RuleFieldsInput):
    templateId = StrictUUIDField()
    environment = EnvironmentField()
    metric = serializers.ChoiceField(choices=Metric.choices, help_text=METRIC_HELP)
    operator = serializers.ChoiceField(choices=Operator.choices, help_text="the direction of bad")
    threshold = StrictNumberField(help_text=THRESHOLD_HELP)
    enabled = StrictBooleanField(required=False, help_text="default true (presets are created disabled)")


# API name -> the service's.
_SERVICE_NAMES = {
    "templateId": "template_id",
    "environment": "environment",
    "metric": "metric",
    "operator": "operator",
    "threshold": "threshold",
    "baseline": "baseline",
    "windowMinutes": "window_minutes",
    "minExecutions": "min_executions",
    "consecutiveBreaches": "consecutive_breaches",
    "cooldownMinutes": "cooldown_minutes",
    "action": "action",
    "enabled": "enabled",
    "dryRun": "dry_run",
    "alpha": "alpha",
    "requireSignificance": "require_significance",
}


def service_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Validated input as the rules' services take it."""
    fields = {_SERVICE_NAMES[name]: value for name, value in data.items() if name in _SERVICE_NAMES}
    notify = data.get("notify") or {}
    if "emails" in notify:
        fields["notify_emails"] = list(notify["emails"])
    if "webhookUrl" in notify:
        fields["notify_webhook_url"] = notify["webhookUrl"] or ""
    return fields


class PresetsInput(serializers.Serializer):
    templateId = StrictUUIDField()
    environment = EnvironmentField(default=Environment.PRODUCTION)
    dailyCostBudget = StrictNumberField(
        required=False, min_value=0, help_text="the daily-cost alert's budget; without it, that alert is not made"
    )


class TemplateQuery(serializers.Serializer):
    templateId = StrictUUIDField(required=False, help_text="only those of this template")


class NotifyOutput(serializers.Serializer):
    emails = serializers.ListField(child=serializers.CharField(), source="notify_emails")
    webhookUrl = serializers.SerializerMethodField(
        help_text="whole for deployers and superusers; for others its scheme and host only (it may hold credentials)"
    )

    def get_webhookUrl(self, rule: TriggerRule) -> str | None:
        return webhook_url_shown_to(self.context.get("viewer"), rule)


class RuleStateOutput(serializers.Serializer):
    streak = serializers.IntegerField(help_text="breaching evaluations in a row, on the active deployment")
    cooldownUntil = serializers.DateTimeField(source="cooldown_until", allow_null=True)
    lastEvaluatedAt = serializers.DateTimeField(source="last_tick", allow_null=True, help_text="its last tick")


class RuleOutput(serializers.Serializer):
    id = serializers.UUIDField()
    templateId = serializers.UUIDField(source="template_id")
    environment = serializers.ChoiceField(choices=Environment.choices)
    metric = serializers.ChoiceField(choices=Metric.choices)
    operator = serializers.ChoiceField(choices=Operator.choices)
    threshold = serializers.FloatField()
    baseline = serializers.ChoiceField(choices=Baseline.choices)
    windowMinutes = serializers.IntegerField(source="window_minutes")
    minExecutions = serializers.IntegerField(source="min_executions")
    consecutiveBreaches = serializers.IntegerField(source="consecutive_breaches")
    cooldownMinutes = serializers.IntegerField(source="cooldown_minutes")
    action = serializers.ChoiceField(choices=Action.choices)
    enabled = serializers.BooleanField()
    dryRun = serializers.BooleanField(source="dry_run")
    alpha = serializers.FloatField(allow_null=True)
    requireSignificance = serializers.BooleanField(source="require_significance")
    notify = serializers.SerializerMethodField()
    description = serializers.CharField(help_text="the rule in one line, e.g. success_rate < 95 % over 15m ...")
    createdBy = UsernameField(source="created_by")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    state = serializers.SerializerMethodField()

    @extend_schema_field(NotifyOutput)
    def get_notify(self, rule: TriggerRule) -> dict[str, Any]:
        return dict(NotifyOutput(rule, context=self.context).data)

    @extend_schema_field(RuleStateOutput(allow_null=True))
    def get_state(self, rule: TriggerRule) -> dict[str, Any] | None:
        state = getattr(rule, "state", None)
        return dict(RuleStateOutput(state).data) if state is not None else None


class CreatedRuleOutput(RuleOutput):
    webhookSecret = serializers.CharField(
        source="webhook_secret", help_text="signs the rule's webhook deliveries (HMAC-SHA256); shown only now"
    )


class EvaluationOutput(serializers.Serializer):
    """One recorded evaluation, as an alert's evidence keeps it."""

    id = serializers.UUIDField()
    tick = serializers.DateTimeField()
    windowStart = serializers.DateTimeField()
    windowEnd = serializers.DateTimeField()
    executions = serializers.IntegerField()
    sampleSize = serializers.IntegerField(help_text="what minExecutions counts")
    observed = serializers.FloatField(allow_null=True, help_text="in the metric's unit")
    baselineSize = serializers.IntegerField(allow_null=True)
    baselineValue = serializers.FloatField(allow_null=True)
    estimate = serializers.FloatField(allow_null=True, help_text="previous_version: the relative change (0.5: +50 %)")
    bound = serializers.FloatField(allow_null=True, help_text="its one-sided (1 - alpha) confidence bound")
    pValue = serializers.FloatField(allow_null=True)
    alpha = serializers.FloatField(allow_null=True)
    status = serializers.ChoiceField(choices=TriggerEvaluation.Status.choices)
    streak = serializers.IntegerField(help_text="after this evaluation")
    decision = serializers.ChoiceField(choices=TriggerEvaluation.Decision.choices)
    detail = serializers.DictField(help_text="how it was computed: the test, fallbacks, why data was insufficient")


class BaselineOutput(serializers.Serializer):
    metric = serializers.ChoiceField(choices=Metric.choices)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    executions = serializers.IntegerField()
    n = serializers.IntegerField()
    value = serializers.FloatField(allow_null=True)
    mean = serializers.FloatField(allow_null=True)
    variance = serializers.FloatField(allow_null=True)
    varianceFrom = serializers.IntegerField(allow_null=True)


class EvidenceOutput(serializers.Serializer):
    ruleId = serializers.UUIDField()
    ruleHistoryId = serializers.IntegerField(help_text="the rule as it was when it fired (its history)")
    rule = serializers.CharField()
    templateId = serializers.UUIDField()
    environment = serializers.ChoiceField(choices=Environment.choices)
    deploymentId = serializers.UUIDField()
    versionId = serializers.UUIDField()
    version = serializers.CharField()
    summary = serializers.CharField()
    evaluations = EvaluationOutput(many=True, help_text="the breaching evaluations that fired it, oldest first")
    baseline = BaselineOutput(allow_null=True, help_text="previous_version: the previous version's sample")


class AlertOutput(serializers.Serializer):
    id = serializers.UUIDField()
    ruleId = serializers.UUIDField(source="rule_id")
    rule = serializers.CharField(source="rule_label", help_text="the rule as it was when it fired")
    templateId = serializers.UUIDField(source="template_id")
    environment = serializers.ChoiceField(choices=Environment.choices)
    deploymentId = serializers.UUIDField(source="deployment_id")
    versionId = serializers.UUIDField(source="deployment.version_id")
    version = serializers.CharField(source="deployment.version.number")
    metric = serializers.ChoiceField(choices=Metric.choices)
    action = serializers.ChoiceField(choices=Action.choices)
    outcome = serializers.ChoiceField(choices=Alert.Outcome.choices)
    outcomeDetail = serializers.CharField(source="outcome_detail")
    rollbackId = serializers.UUIDField(
        source="rollback_id", allow_null=True, help_text="outcome rolled_back: the rollback (GET /api/rollback/history)"
    )
    summary = serializers.CharField()
    evidence = EvidenceOutput()
    firedAt = serializers.DateTimeField(source="fired_at")
