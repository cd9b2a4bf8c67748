"""The JSON of executions and performance (API.md, "Executions and performance").

Reports are checked by analytics.reports (by hand, for speed: a batch holds up to a thousand rows); the
input serializers of reports document those checks, with the same limits. Queries are read by input
serializers (`validated`). Answers are described by output serializers, and a test holds real answers
to the schema they generate (analytics/tests/test_schema.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from analytics.metrics import OVERVIEW_LIMIT
from analytics.models import SUBJECT_ID_MAX_LENGTH, Execution
from analytics.reports import MAX_COST, MAX_RESPONSE_TIME_MS, MAX_TOKENS, STATUSES, ExecutionReport
from analytics.services import MAX_BATCH
from analytics.windows import AHEAD, EARLIEST, Window, floor_hour, iso
from lifecycle.core.api.inputs import EnvironmentField, StrictCharField, StrictIntegerField, ZonedDateTimeField
from lifecycle.core.environments import Environment

_WINDOW_REACH = f"between {iso(EARLIEST)} and {AHEAD.days} day after now"
_TIMESTAMP_RULE = (
    f"ISO 8601 with a zone; not before {iso(EARLIEST)}, at most "
    f"{settings.EXECUTION_CLOCK_SKEW_SECONDS} seconds (EXECUTION_CLOCK_SKEW_SECONDS) after the server's clock"
)

# Reports (documentation of analytics.reports' checks). An optional field sent as null is taken as left out.

_OPTIONAL: dict[str, Any] = {"required": False, "allow_null": True}
_OPTIONAL_TEXT: dict[str, Any] = {**_OPTIONAL, "allow_blank": True}


class TokenUsageDoc(serializers.Serializer):
    inputTokens = StrictIntegerField(**_OPTIONAL, min_value=0, max_value=MAX_TOKENS)
    outputTokens = StrictIntegerField(**_OPTIONAL, min_value=0, max_value=MAX_TOKENS)
    totalTokens = StrictIntegerField(
        **_OPTIONAL,
        min_value=0,
        max_value=MAX_TOKENS,
        help_text="must equal inputTokens + outputTokens when both are given; computed from them when left out",
    )
    cost = serializers.FloatField(**_OPTIONAL, min_value=0, max_value=MAX_COST)


class ExecutionMetadataDoc(serializers.Serializer):
    userAgent = StrictCharField(**_OPTIONAL_TEXT, max_length=500)
    region = StrictCharField(**_OPTIONAL_TEXT, max_length=50)
    requestId = StrictCharField(
        **_OPTIONAL_TEXT,
        max_length=200,
        help_text=(
            "unique per template: the same id again for the same template is stored once (200, a receipt); "
            "under another template it is another execution. Empty: none"
        ),
    )


class ErrorDoc(serializers.Serializer):
    type = StrictCharField(**_OPTIONAL_TEXT, max_length=100, help_text="default: the status (error or timeout)")
    message = StrictCharField(**_OPTIONAL_TEXT, max_length=2000)


class ExecutionInput(serializers.Serializer):
    templateVersionId = serializers.UUIDField()
    status = serializers.ChoiceField(choices=list(STATUSES))
    responseTime = serializers.FloatField(min_value=0, max_value=MAX_RESPONSE_TIME_MS, help_text="milliseconds")
    environment = EnvironmentField(required=False, help_text="default production")
    timestamp = serializers.DateTimeField(**_OPTIONAL, help_text=f"when it ran: {_TIMESTAMP_RULE}; default: now")
    userId = StrictCharField(**_OPTIONAL_TEXT, max_length=200)
    subjectId = StrictCharField(
        **_OPTIONAL_TEXT,
        max_length=SUBJECT_ID_MAX_LENGTH,
        help_text="the subject render served (A/B tests); with abTestId and variantId it counts among the "
        "variant's subjects, as userId does when it is left out",
    )
    input = serializers.JSONField(
        required=False, help_text="any JSON; kept as text of at most EXECUTION_PAYLOAD_MAX_CHARS, or not at all"
    )
    output = serializers.JSONField(required=False, help_text="as input")
    provider = StrictCharField(**_OPTIONAL_TEXT, max_length=50)
    tokenUsage = TokenUsageDoc(**_OPTIONAL)
    metadata = ExecutionMetadataDoc(**_OPTIONAL)
    userSatisfaction = StrictIntegerField(**_OPTIONAL, min_value=1, max_value=5)
    converted = serializers.BooleanField(**_OPTIONAL)
    abTestId = serializers.UUIDField(**_OPTIONAL)
    variantId = StrictCharField(**_OPTIONAL_TEXT, max_length=100)
    error = ErrorDoc(**_OPTIONAL, help_text="only for status error or timeout")


class BatchInput(serializers.Serializer):
    executions = serializers.ListField(
        child=ExecutionInput(),
        min_length=1,
        max_length=MAX_BATCH,
        help_text=f"1 to {MAX_BATCH:,} reports, stored all or none: one invalid row is a 400 naming it",
    )


# Queries


class MomentField(ZonedDateTimeField):
    """An ISO 8601 time with a zone, as UTC, within the reach of a window (analytics.windows)."""

    default_error_messages = {**ZonedDateTimeField.default_error_messages, "out_of_reach": f"must be {_WINDOW_REACH}"}

    def reach(self) -> tuple[datetime, datetime]:
        return EARLIEST, timezone.now() + AHEAD


class WindowQuery(serializers.Serializer):
    """A window [startDate, endDate) and an environment; `window` in the validated data."""

    DEFAULT_DAYS: int | None = None  # startDate left out: this many days before endDate (None: all time)
    # startDate left out: from the start of that hour (a time series' first bucket whole, not a partial one
    # that looks like a dip, and no partial first hour read raw: analytics.windows).
    DEFAULT_START_ON_THE_HOUR = False

    startDate = MomentField(
        required=False,
        help_text=f"included: the window is [startDate, endDate); {_WINDOW_REACH}. Equal to endDate: an empty window",
    )
    endDate = MomentField(required=False, help_text=f"excluded; {_WINDOW_REACH}; default: now")
    environment = EnvironmentField(required=False, help_text="default: every environment")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("endDate") or timezone.now()
        start = attrs.get("startDate")
        if start is None and self.DEFAULT_DAYS is not None:
            start = end - timedelta(days=self.DEFAULT_DAYS)
            start = max(EARLIEST, floor_hour(start) if self.DEFAULT_START_ON_THE_HOUR else start)
        if start is not None and start > end:
            raise serializers.ValidationError({"startDate": "must not be after endDate (equal: an empty window)"})
        attrs["window"] = Window(start, end)
        return attrs


class MetricsQuery(WindowQuery):
    versionId = serializers.UUIDField()
    startDate = MomentField(
        required=False,
        help_text=f"included: the window is [startDate, endDate); {_WINDOW_REACH}; default: all time",
    )


HOURLY_UP_TO = timedelta(days=31)


class BucketedWindowQuery(WindowQuery):
    """A window whose answer has a time series, in hours or days (`granularity`)."""

    DEFAULT_START_ON_THE_HOUR = True

    granularity = serializers.ChoiceField(
        choices=["hour", "day"],
        required=False,
        help_text="the time series' buckets (UTC); default: hour for windows of up to 3 days, else day; "
        "hour for windows of up to 31 days",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        window: Window = attrs["window"]
        assert window.start is not None  # DEFAULT_DAYS
        length = window.end - window.start
        granularity = attrs.get("granularity") or ("hour" if length <= timedelta(days=3) else "day")
        if granularity == "hour" and length > HOURLY_UP_TO:
            raise serializers.ValidationError({"granularity": "hour is for windows of up to 31 days"})
        attrs["granularity"] = granularity
        return attrs


class AnalyticsQuery(BucketedWindowQuery):
    DEFAULT_DAYS = 30

    templateId = serializers.UUIDField()
    startDate = MomentField(
        required=False,
        help_text=f"included: the window is [startDate, endDate); {_WINDOW_REACH}; "
        "default: 30 days before endDate, from the start of that hour",
    )


class OverviewQuery(BucketedWindowQuery):
    DEFAULT_DAYS = 7

    startDate = MomentField(
        required=False,
        help_text=f"included: the window is [startDate, endDate); {_WINDOW_REACH}; "
        "default: 7 days before endDate, from the start of that hour",
    )
    name = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="only templates whose name contains this"
    )


# Answers

_RATE = "a percentage (0-100); null without executions"
_MILLISECONDS = "milliseconds; null without executions"
_PERCENTILE = "milliseconds, within 1% of the exact nearest-rank value; null without executions"


class ExecutionTokenUsageOutput(serializers.Serializer):
    inputTokens = serializers.IntegerField(allow_null=True)
    outputTokens = serializers.IntegerField(allow_null=True)
    totalTokens = serializers.IntegerField(allow_null=True)
    cost = serializers.FloatField(allow_null=True)


class ExecutionMetadataOutput(serializers.Serializer):
    userAgent = serializers.CharField()
    region = serializers.CharField()
    requestId = serializers.CharField(allow_null=True)


class ExecutionErrorOutput(serializers.Serializer):
    type = serializers.CharField()
    message = serializers.CharField()


class ExecutionOutput(serializers.Serializer):
    """A stored execution, in the shape it was reported in (201)."""

    id = serializers.UUIDField()
    templateVersionId = serializers.UUIDField()
    templateId = serializers.UUIDField()
    environment = serializers.ChoiceField(choices=Environment.choices)
    status = serializers.ChoiceField(choices=list(STATUSES))
    timestamp = serializers.DateTimeField(help_text="when it ran, in UTC")
    receivedAt = serializers.DateTimeField()
    responseTime = serializers.FloatField(help_text="milliseconds")
    tokenUsage = ExecutionTokenUsageOutput()
    provider = serializers.CharField()
    userId = serializers.CharField()
    subjectId = serializers.CharField(help_text="empty: none reported")
    metadata = ExecutionMetadataOutput()
    userSatisfaction = serializers.IntegerField(allow_null=True)
    converted = serializers.BooleanField(allow_null=True)
    abTestId = serializers.UUIDField(allow_null=True)
    variantId = serializers.CharField(allow_null=True)
    error = ExecutionErrorOutput(allow_null=True, help_text="null for a success")
    input = serializers.CharField(help_text="as kept: text, cut at EXECUTION_PAYLOAD_MAX_CHARS, or empty")
    output = serializers.CharField(help_text="as input")
    duplicate = serializers.BooleanField(help_text="false: this report was stored now")


class ExecutionReceiptOutput(serializers.Serializer):
    """The answer to a report whose requestId the template already has an execution for (200): what the
    caller sent, and the id of the execution stored for it before; nothing of that execution's contents."""

    id = serializers.UUIDField(help_text="the execution stored for this requestId before")
    templateId = serializers.UUIDField(help_text="the template of the version reported")
    templateVersionId = serializers.UUIDField(help_text="as reported")
    requestId = serializers.CharField(help_text="as reported")
    duplicate = serializers.BooleanField(help_text="true: nothing was stored")


class BatchOutput(serializers.Serializer):
    created = serializers.IntegerField(help_text="reports stored")
    duplicates = serializers.IntegerField(
        help_text="reports not stored: their template already had their requestId, or it came earlier in the batch"
    )


def execution_json(execution: Execution, *, duplicate: bool = False) -> dict[str, Any]:
    """A stored execution, in the shape it was reported in (ExecutionOutput)."""
    return {
        "id": str(execution.id),
        "templateVersionId": str(execution.version_id),
        "templateId": str(execution.template_id),
        "environment": execution.environment,
        "status": execution.status,
        "timestamp": iso(execution.executed_at),
        "receivedAt": iso(execution.received_at),
        "responseTime": execution.response_time_ms,
        "tokenUsage": {
            "inputTokens": execution.input_tokens,
            "outputTokens": execution.output_tokens,
            "totalTokens": execution.total_tokens,
            "cost": execution.cost,
        },
        "provider": execution.provider,
        "userId": execution.user_ref,
        "subjectId": execution.subject_ref,
        "metadata": {
            "userAgent": execution.user_agent,
            "region": execution.region,
            "requestId": execution.request_id,
        },
        "userSatisfaction": execution.user_satisfaction,
        "converted": execution.converted,
        "abTestId": str(execution.ab_test_id) if execution.ab_test_id else None,
        "variantId": execution.variant_id or None,
        "error": {"type": execution.error_type, "message": execution.error_message} if execution.error_type else None,
        "input": execution.input,
        "output": execution.output,
        "duplicate": duplicate,
    }


def receipt_json(report: ExecutionReport, stored_id: UUID) -> dict[str, Any]:
    """The answer to a duplicate (ExecutionReceiptOutput)."""
    return {
        "id": str(stored_id),
        "templateId": str(report.template_id),
        "templateVersionId": str(report.version_id),
        "requestId": report.request_id,
        "duplicate": True,
    }


class MetricsTokenUsageOutput(serializers.Serializer):
    inputTokens = serializers.IntegerField(help_text="summed over the executions that reported them")
    outputTokens = serializers.IntegerField()
    totalTokens = serializers.IntegerField()
    averagePerExecution = serializers.FloatField(allow_null=True, help_text="null without executions")


class MetricsOutput(serializers.Serializer):
    """A version's numbers over a window; zeros and nulls when it holds no executions."""

    versionId = serializers.UUIDField()
    templateId = serializers.UUIDField()
    version = serializers.CharField(help_text="its number, e.g. 1.2.0")
    environment = serializers.ChoiceField(
        choices=Environment.choices, allow_null=True, help_text="null: every environment"
    )
    startDate = serializers.DateTimeField(allow_null=True, help_text="null: since the first execution")
    endDate = serializers.DateTimeField(help_text="excluded")
    totalExecutions = serializers.IntegerField()
    successCount = serializers.IntegerField()
    errorCount = serializers.IntegerField(help_text="status error or timeout")
    timeoutCount = serializers.IntegerField()
    successRate = serializers.FloatField(allow_null=True, help_text=_RATE)
    averageResponseTime = serializers.FloatField(allow_null=True, help_text=_MILLISECONDS)
    p50ResponseTime = serializers.FloatField(allow_null=True, help_text=_PERCENTILE)
    p95ResponseTime = serializers.FloatField(allow_null=True, help_text=_PERCENTILE)
    p99ResponseTime = serializers.FloatField(allow_null=True, help_text=_PERCENTILE)
    tokenUsage = MetricsTokenUsageOutput()
    totalCost = serializers.FloatField()
    averageCost = serializers.FloatField(allow_null=True, help_text="null without executions")
    averageSatisfaction = serializers.FloatField(allow_null=True, help_text="1-5; null when none was reported")
    conversionRate = serializers.FloatField(
        allow_null=True, help_text="a percentage of the executions that reported `converted`; null when none did"
    )
    errorsByType = serializers.DictField(child=serializers.IntegerField(), help_text="executions per error type")


class AnalyticsPerformanceOutput(serializers.Serializer):
    successRate = serializers.FloatField(allow_null=True, help_text=_RATE)
    averageResponseTime = serializers.FloatField(allow_null=True, help_text=_MILLISECONDS)
    p95ResponseTime = serializers.FloatField(allow_null=True, help_text=_PERCENTILE)
    averageCost = serializers.FloatField(allow_null=True, help_text="null without executions")


class AnalyticsGroupOutput(serializers.Serializer):
    """The executions of one group (a version, a region): each group listed has at least one."""

    executions = serializers.IntegerField()
    successRate = serializers.FloatField(allow_null=True, help_text=_RATE)
    averageResponseTime = serializers.FloatField(allow_null=True, help_text="milliseconds")
    averageCost = serializers.FloatField(allow_null=True)
    totalCost = serializers.FloatField()


class AnalyticsVersionOutput(AnalyticsGroupOutput):
    versionId = serializers.UUIDField()
    version = serializers.CharField(allow_null=True, help_text="its number, e.g. 1.2.0")
    p95ResponseTime = serializers.FloatField(allow_null=True, help_text=_PERCENTILE)


class AnalyticsRegionOutput(AnalyticsGroupOutput):
    region = serializers.CharField(help_text="as reported in metadata.region; `unknown` when none was")


class AnalyticsErrorOutput(serializers.Serializer):
    type = serializers.CharField()
    count = serializers.IntegerField()
    share = serializers.FloatField(help_text="a percentage of all the window's executions")
    firstSeen = serializers.DateTimeField()
    lastSeen = serializers.DateTimeField()
    sampleMessages = serializers.ListField(child=serializers.CharField(), help_text="up to 3 distinct messages")


class AnalyticsPointOutput(serializers.Serializer):
    start = serializers.DateTimeField(help_text="the bucket's start (UTC hour or day)")
    executions = serializers.IntegerField()
    successRate = serializers.FloatField(allow_null=True, help_text=_RATE)
    p95ResponseTime = serializers.FloatField(allow_null=True, help_text=_PERCENTILE)
    cost = serializers.FloatField()


class VersionPointOutput(AnalyticsPointOutput):
    p50ResponseTime = serializers.FloatField(allow_null=True, help_text=_PERCENTILE)
    totalTokens = serializers.IntegerField()


class VersionSeriesOutput(serializers.Serializer):
    versionId = serializers.UUIDField()
    version = serializers.CharField(allow_null=True, help_text="its number, e.g. 1.2.0")
    points = VersionPointOutput(many=True, help_text="the version's buckets with executions, in time order")


class ForecastDayOutput(serializers.Serializer):
    date = serializers.DateField()
    executions = serializers.FloatField()
    executionsLow = serializers.FloatField()
    executionsHigh = serializers.FloatField()
    cost = serializers.FloatField()
    costLow = serializers.FloatField()
    costHigh = serializers.FloatField()


class ForecastOutput(serializers.Serializer):
    """The next days' executions and cost, from the daily history in the window up to now."""

    model = serializers.CharField()
    interval = serializers.CharField()
    basedOnDays = serializers.IntegerField(
        help_text="days of history: from the first with executions to the window's end or now, if earlier"
    )
    available = serializers.BooleanField(help_text="false with too little history")
    reason = serializers.CharField(allow_null=True, help_text="why there is no forecast; null when available")
    days = ForecastDayOutput(many=True, help_text="the next 7 days; empty when not available")


class TrendPointOutput(serializers.Serializer):
    start = serializers.DateTimeField(help_text="the bucket's start (UTC hour or day)")
    executions = serializers.IntegerField()


class OverviewTemplateOutput(serializers.Serializer):
    templateId = serializers.UUIDField()
    name = serializers.CharField()
    executions = serializers.IntegerField()
    successRate = serializers.FloatField(allow_null=True, help_text=_RATE)
    p95ResponseTime = serializers.FloatField(allow_null=True, help_text=_PERCENTILE)
    totalCost = serializers.FloatField()
    averageSatisfaction = serializers.FloatField(allow_null=True, help_text="null without reported satisfaction")
    trend = TrendPointOutput(many=True, help_text="executions per bucket, the buckets with executions, in time order")


class OverviewOutput(serializers.Serializer):
    """The numbers of every template the caller may read, by name: zeros and nulls for those without
    executions in the window."""

    environment = serializers.ChoiceField(
        choices=Environment.choices, allow_null=True, help_text="null: every environment"
    )
    startDate = serializers.DateTimeField()
    endDate = serializers.DateTimeField(help_text="excluded")
    granularity = serializers.ChoiceField(choices=["hour", "day"], help_text="the trends' buckets")
    templates = OverviewTemplateOutput(many=True, help_text=f"by name, at most {OVERVIEW_LIMIT}")
    more = serializers.BooleanField(help_text=f"true when more than {OVERVIEW_LIMIT} matched: narrow by name")


class AnalyticsOutput(serializers.Serializer):
    """A template's numbers over a window; zeros, nulls and empty lists when it holds no executions."""

    templateId = serializers.UUIDField()
    environment = serializers.ChoiceField(
        choices=Environment.choices, allow_null=True, help_text="null: every environment"
    )
    startDate = serializers.DateTimeField()
    endDate = serializers.DateTimeField(help_text="excluded")
    granularity = serializers.ChoiceField(choices=["hour", "day"])
    totalExecutions = serializers.IntegerField()
    averagePerformance = AnalyticsPerformanceOutput()
    byVersion = AnalyticsVersionOutput(many=True, help_text="versions with executions in the window, most first")
    byRegion = AnalyticsRegionOutput(many=True, help_text="regions with executions in the window, most first")
    errorAnalysis = AnalyticsErrorOutput(many=True, help_text="error types in the window, most frequent first")
    timeSeries = AnalyticsPointOutput(many=True, help_text="the buckets with executions, in time order")
    versionSeries = VersionSeriesOutput(
        many=True, help_text="each version's own time series (the versions with executions), oldest version first"
    )
    forecast = ForecastOutput()
