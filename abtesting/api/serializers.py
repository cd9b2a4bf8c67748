"""The JSON of A/B tests (API.md, "A/B testing"; the original README's payload). Inputs check types and state
the bounds for the schema; the service (abtesting.validation) checks the test as a whole and names each
wrong field by its path in the body."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from abtesting.models import (
    CONFIDENCE_LEVEL,
    DEFAULT_CONFIDENCE_LEVEL,
    DEFAULT_MINIMUM_SAMPLE_SIZE,
    NAME_MAX_LENGTH,
    VARIANT_ID_MAX_LENGTH,
    ABTest,
    MetricType,
    Variant,
)
from abtesting.validation import (
    MAX_METRICS,
    MAX_TEXT_LENGTH,
    MAX_VARIANTS,
    METRIC_NAME_MAX_LENGTH,
    MINIMUM_SAMPLE_SIZE,
)
from analytics.models import SUBJECT_ID_MAX_LENGTH
from lifecycle.core.api.inputs import (
    EnvironmentField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictNumberField,
    StrictUUIDField,
    ZonedDateTimeField,
)
from lifecycle.core.api.outputs import UsernameField
from lifecycle.core.environments import Environment

_TEXT: dict[str, Any] = {"required": False, "allow_blank": True, "max_length": MAX_TEXT_LENGTH}


class PlanDateTimeField(ZonedDateTimeField):
    default_error_messages = {
        **ZonedDateTimeField.default_error_messages,
        "invalid": "must be an ISO 8601 time with a zone, e.g. 2025-01-10T00:00:00Z",
    }


class VariantInput(serializers.Serializer):
    id = StrictCharField(max_length=VARIANT_ID_MAX_LENGTH, help_text="unique within the test; reported as variantId")
    name = StrictCharField(required=False, allow_blank=True, max_length=NAME_MAX_LENGTH, help_text="default: its id")
    description = StrictCharField(**_TEXT)
    templateVersionId = StrictUUIDField(help_text="a version of the test's template")
    trafficPercentage = StrictNumberField(
        required=False,
        help_text="above 0, at most 100, to the hundredth; the variants' sum to exactly 100 (or give trafficSplit)",
    )
    control = StrictBooleanField(required=False, help_text="the one the others are compared with (default: the first)")


class SuccessMetricInput(serializers.Serializer):
    name = StrictCharField(max_length=METRIC_NAME_MAX_LENGTH)
    type = serializers.ChoiceField(choices=MetricType.choices)
    target = StrictNumberField(required=False, allow_null=True, help_text="the value hoped for, in the metric's unit")
    weight = StrictNumberField(help_text="above 0, at most 1; the metrics' weights sum to 1; the heaviest is primary")
    description = StrictCharField(**_TEXT)


class GuardrailMetricInput(serializers.Serializer):
    name = StrictCharField(max_length=METRIC_NAME_MAX_LENGTH)
    type = serializers.ChoiceField(choices=MetricType.choices)
    description = StrictCharField(**_TEXT)


class ABTestCreateInput(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX_LENGTH)
    description = StrictCharField(**_TEXT)
    hypothesis = StrictCharField(**_TEXT)
    templateId = StrictUUIDField(required=False, help_text="default: the template of the first variant's version")
    environment = EnvironmentField(default=Environment.PRODUCTION)
    variants = serializers.ListField(
        child=VariantInput(), max_length=MAX_VARIANTS, help_text=f"2 to {MAX_VARIANTS}, distinct ids"
    )
    trafficSplit = serializers.DictField(
        child=StrictNumberField(),
        required=False,
        help_text="each variant's id and its percentage: must agree with trafficPercentage where both are given",
    )
    startDate = PlanDateTimeField(required=False, allow_null=True, help_text="when it is planned to start")
    endDate = PlanDateTimeField(required=False, allow_null=True, help_text="in the future; the test stops then")
    successMetrics = serializers.ListField(
        child=SuccessMetricInput(),
        required=False,
        max_length=MAX_METRICS,
        help_text="weights sum to 1 (default: conversion_rate, weight 1)",
    )
    guardrailMetrics = serializers.ListField(
        child=GuardrailMetricInput(),
        required=False,
        max_length=MAX_METRICS,
        help_text="metrics that must not get worse",
    )
    confidenceLevel = StrictNumberField(
        required=False,
        min_value=CONFIDENCE_LEVEL[0],
        max_value=CONFIDENCE_LEVEL[1],
        help_text=f"default {DEFAULT_CONFIDENCE_LEVEL}",
    )
    minimumSampleSize = StrictIntegerField(
        required=False,
        min_value=MINIMUM_SAMPLE_SIZE[0],
        max_value=MINIMUM_SAMPLE_SIZE[1],
        help_text=f"executions per variant before a winner may be declared (default {DEFAULT_MINIMUM_SAMPLE_SIZE})",
    )
    autoStop = StrictBooleanField(required=False, help_text="stop by itself once a winner is clear (default false)")


def create_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Validated input as abtesting.services.create_test takes it."""
    fields: dict[str, Any] = {
        "name": data["name"],
        "environment": data["environment"],
        "variants": [
            {
                "id": variant["id"],
                "name": variant.get("name"),
                "description": variant.get("description"),
                "template_version_id": variant["templateVersionId"],
                "traffic_percentage": variant.get("trafficPercentage"),
                "control": variant.get("control", False),
            }
            for variant in data["variants"]
        ],
    }
    optional = {
        "description": "description",
        "hypothesis": "hypothesis",
        "templateId": "template_id",
        "trafficSplit": "traffic_split",
        "startDate": "start_date",
        "endDate": "end_date",
        "confidenceLevel": "confidence_level",
        "minimumSampleSize": "minimum_sample_size",
        "autoStop": "auto_stop",
    }
    fields.update({name: data[key] for key, name in optional.items() if key in data})
    for key, name in (("successMetrics", "success_metrics"), ("guardrailMetrics", "guardrail_metrics")):
        if key in data:
            fields[name] = [dict(metric) for metric in data[key]]
    return fields


class TestIdInput(serializers.Serializer):
    testId = StrictUUIDField()


class ReasonInput(TestIdInput):
    reason = StrictCharField(required=False, allow_blank=True, max_length=500, help_text="why (kept with the test)")


class AssignInput(serializers.Serializer):
    # Not trimmed: render hashes the id as sent, and both must answer the same variant for it.
    subjectId = StrictCharField(
        min_length=1,
        max_length=SUBJECT_ID_MAX_LENGTH,
        trim_whitespace=False,
        help_text="who is served (a user, a session): any string, taken as sent (spaces included)",
    )


class AssignOutput(serializers.Serializer):
    abTestId = serializers.UUIDField()
    variantId = serializers.CharField(help_text="the subject's variant (the control while the test is paused)")
    templateVersionId = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ABTest.State.choices)


class ABTestQuery(serializers.Serializer):
    templateId = StrictUUIDField(required=False, help_text="only the tests of this template")
    status = serializers.ChoiceField(choices=ABTest.State.choices, required=False, help_text="only those in this state")


class VariantOutput(serializers.Serializer):
    id = serializers.CharField(source="key")
    name = serializers.CharField()
    description = serializers.CharField()
    templateVersionId = serializers.UUIDField(source="template_version_id")
    version = serializers.CharField(source="template_version.number", help_text="the version's number")
    trafficPercentage = serializers.FloatField(source="traffic_percentage")
    control = serializers.BooleanField(source="is_control")


class SuccessMetricOutput(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=MetricType.choices)
    target = serializers.FloatField(allow_null=True)
    weight = serializers.FloatField()
    description = serializers.CharField()


class GuardrailMetricOutput(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=MetricType.choices)
    description = serializers.CharField()


class ABTestOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    hypothesis = serializers.CharField()
    templateId = serializers.UUIDField(source="template_id")
    environment = serializers.ChoiceField(choices=Environment.choices)
    status = serializers.ChoiceField(source="state", choices=ABTest.State.choices)
    variants = serializers.SerializerMethodField()
    trafficSplit = serializers.SerializerMethodField()
    startDate = serializers.DateTimeField(source="start_date", allow_null=True)
    endDate = serializers.DateTimeField(source="end_date", allow_null=True)
    successMetrics = SuccessMetricOutput(source="success_metrics", many=True)
    guardrailMetrics = GuardrailMetricOutput(source="guardrail_metrics", many=True)
    confidenceLevel = serializers.FloatField(source="confidence_level")
    minimumSampleSize = serializers.IntegerField(source="minimum_sample_size")
    autoStop = serializers.BooleanField(source="auto_stop")
    createdBy = UsernameField(source="created_by")
    createdAt = serializers.DateTimeField(source="created_at")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True, help_text="its first start")
    pausedAt = serializers.DateTimeField(source="paused_at", allow_null=True, help_text="while paused: since when")
    stoppedAt = serializers.DateTimeField(source="stopped_at", allow_null=True, help_text="completed or cancelled")
    stoppedBy = UsernameField(source="stopped_by")
    stopReason = serializers.CharField(source="stop_reason")
    winner = serializers.SerializerMethodField(help_text="the winning variant's id, once decided")

    @extend_schema_field(VariantOutput(many=True))
    def get_variants(self, test: ABTest) -> list[dict[str, Any]]:
        return VariantOutput(_variants(test), many=True).data  # type: ignore[return-value]

    @extend_schema_field(
        {"type": "object", "additionalProperties": {"type": "number"}, "description": "variant id -> percentage"}
    )
    def get_trafficSplit(self, test: ABTest) -> dict[str, float]:
        return {variant.key: float(variant.traffic_percentage) for variant in _variants(test)}

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_winner(self, test: ABTest) -> str | None:
        return test.winner or None


def _variants(test: ABTest) -> list[Variant]:
    # abtesting.selectors.abtests_for_listing prefetches them, ordered, with their versions.
    return list(test.variants.all())


# Results (GET /api/abtests/{id}/results): computed by abtesting.results, described here for the schema.


class IntervalOutput(serializers.Serializer):
    lower = serializers.FloatField()
    upper = serializers.FloatField()


class VariantIntervalsOutput(serializers.Serializer):
    """Each figure's confidence interval at the test's level (null without enough data): Wilson for rates,
    Student t for averages, order statistics for the p95."""

    successRate = IntervalOutput(allow_null=True)
    conversionRate = IntervalOutput(allow_null=True)
    averageSatisfaction = IntervalOutput(allow_null=True)
    averageResponseTime = IntervalOutput(allow_null=True)
    p95ResponseTime = IntervalOutput(allow_null=True)
    averageCost = IntervalOutput(allow_null=True)
    averageTokens = IntervalOutput(allow_null=True)


class VariantResultOutput(serializers.Serializer):
    variantId = serializers.CharField()
    name = serializers.CharField()
    templateVersionId = serializers.UUIDField()
    control = serializers.BooleanField()
    trafficPercentage = serializers.FloatField()
    executions = serializers.IntegerField(
        help_text="Executions counted for the variant in the test's environment and running periods: those "
        "reporting its variantId, and those of its version that report no variantId."
    )
    subjects = serializers.IntegerField(
        help_text="Distinct subjects (subjectId, else userId) of the executions that reported its variantId."
    )
    successRate = serializers.FloatField(allow_null=True, help_text="Percent (0-100).")
    conversionRate = serializers.FloatField(allow_null=True, help_text="Percent of executions with converted true.")
    averageSatisfaction = serializers.FloatField(allow_null=True, help_text="Over the executions that report one.")
    averageResponseTime = serializers.FloatField(allow_null=True, help_text="Milliseconds.")
    p95ResponseTime = serializers.FloatField(allow_null=True, help_text="Milliseconds, within 1%.")
    averageCost = serializers.FloatField(allow_null=True, help_text="Per execution (none reported counts as 0).")
    averageTokens = serializers.FloatField(allow_null=True, help_text="Total tokens per execution.")
    intervals = VariantIntervalsOutput()
    weightedScore = serializers.FloatField(
        allow_null=True, help_text="Weighted attainment of the success metrics' targets (descriptive, not a test)."
    )


class EffectOutput(serializers.Serializer):
    estimate = serializers.FloatField()
    standardError = serializers.FloatField()
    interval = IntervalOutput()


class SequentialOutput(serializers.Serializer):
    interval = IntervalOutput(help_text="Always-valid interval of the difference (GrowthBook's confidence sequence).")
    pValue = serializers.FloatField()
    mayStop = serializers.BooleanField()


class ComparisonOutput(serializers.Serializer):
    variantId = serializers.CharField()
    metric = serializers.CharField()
    type = serializers.ChoiceField(choices=MetricType.choices)
    role = serializers.ChoiceField(choices=["success", "guardrail"])
    higherIsBetter = serializers.BooleanField()
    enoughData = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)
    method = serializers.ChoiceField(choices=["unpooled_t", "fisher_exact", "welch_t"], allow_null=True)
    controlValue = serializers.FloatField(allow_null=True)
    variantValue = serializers.FloatField(allow_null=True)
    difference = EffectOutput(
        allow_null=True, help_text="Variant - control (percentage points for rates): decides significance."
    )
    relativeLift = EffectOutput(allow_null=True, help_text="(variant - control) / |control|, delta-method interval.")
    relativeLiftReason = serializers.CharField(allow_null=True)
    degreesOfFreedom = serializers.FloatField(allow_null=True)
    pValue = serializers.FloatField(allow_null=True, help_text="Fixed-horizon (unadjusted for peeking).")
    pValueAdjusted = serializers.FloatField(
        allow_null=True, help_text="Holm over every non-control variant x success metric; null for guardrails."
    )
    significant = serializers.BooleanField(
        help_text="Success metrics: adjusted p below 1 - confidenceLevel; guardrails: their own p."
    )
    direction = serializers.ChoiceField(choices=["better", "worse", "same"], allow_null=True)
    chanceToBeatControl = serializers.FloatField(allow_null=True)
    sequential = SequentialOutput(allow_null=True)


class SampleRatioOutput(serializers.Serializer):
    checked = serializers.BooleanField()
    mismatch = serializers.BooleanField()
    pValue = serializers.FloatField(allow_null=True)
    chiSquare = serializers.FloatField(allow_null=True)
    threshold = serializers.FloatField()
    observed = serializers.DictField(child=serializers.IntegerField(), help_text="Distinct subjects per variant.")
    expected = serializers.DictField(child=serializers.FloatField())
    reason = serializers.CharField(allow_null=True)


class SampleSizeOutput(serializers.Serializer):
    enoughData = serializers.BooleanField()
    minimumSampleSize = serializers.IntegerField()
    minimumRarerEvents = serializers.IntegerField()
    smallestArm = serializers.IntegerField()
    requiredPerArm = serializers.IntegerField(
        allow_null=True,
        help_text="executions per variant for 80 % power to detect the observed difference in the primary metric, "
        "and at least minimumSampleSize and enough for minimumRarerEvents of each yes/no metric at the observed "
        "rates; null while no difference is observed",
    )
    moreExecutionsPerArm = serializers.IntegerField(
        allow_null=True, help_text="how many more the smallest variant needs to reach requiredPerArm"
    )
    power = serializers.FloatField()
    basedOn = serializers.CharField(allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField())


class RunningPeriodOutput(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class RecommendationOutput(serializers.Serializer):
    action = serializers.ChoiceField(choices=["ship", "keep_control", "keep_running"])
    reason = serializers.CharField()


class ABTestResultsOutput(serializers.Serializer):
    testId = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ABTest.State.choices)
    confidenceLevel = serializers.FloatField()
    primaryMetric = serializers.CharField(allow_null=True)
    periods = RunningPeriodOutput(many=True, help_text="The spans the test ran in (pauses left out).")
    variantResults = VariantResultOutput(many=True)
    comparisons = ComparisonOutput(many=True)
    statisticalSignificance = serializers.BooleanField()
    winner = serializers.CharField(allow_null=True)
    trustworthy = serializers.BooleanField(help_text="False on a sample ratio mismatch.")
    sampleRatioMismatch = SampleRatioOutput()
    sampleSize = SampleSizeOutput()
    recommendation = RecommendationOutput()
