"""The JSON of executions and performance (API.md, "Executions and performance").

Reports are checked by analytics.reports (by hand, for speed); the serializers here document the bodies.
Queries are read by input serializers (`validated`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.utils import timezone
from rest_framework import serializers

from analytics.models import Execution
from analytics.reports import ExecutionReport
from analytics.windows import AHEAD, EARLIEST, Window, iso
from lifecycle.core.api.inputs import EnvironmentField, StrictCharField, StrictIntegerField

_WINDOW_REACH = f"between {iso(EARLIEST)} and {AHEAD.days} day after now"


class TokenUsageDoc(serializers.Serializer):
    inputTokens = StrictIntegerField(required=False, min_value=0)
    outputTokens = StrictIntegerField(required=False, min_value=0)
    totalTokens = StrictIntegerField(required=False, min_value=0, help_text="inputTokens + outputTokens")
    cost = serializers.FloatField(required=False, min_value=0)


class ExecutionMetadataDoc(serializers.Serializer):
    userAgent = StrictCharField(required=False, max_length=500)
    region = StrictCharField(required=False, max_length=50)
    requestId = StrictCharField(
        required=False,
        max_length=200,
        help_text=(
            "unique per template: the same id again for the same template is stored once (200, a receipt); "
            "under another template it is another execution"
        ),
    )


class ErrorDoc(serializers.Serializer):
    type = StrictCharField(max_length=100)
    message = StrictCharField(required=False, max_length=2000)


class ExecutionInput(serializers.Serializer):
    templateVersionId = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["success", "error", "timeout"])
    responseTime = serializers.FloatField(min_value=0, help_text="milliseconds")
    environment = EnvironmentField(required=False, help_text="default production")
    timestamp = serializers.DateTimeField(required=False, help_text="with a zone; default: now")
    userId = StrictCharField(required=False, max_length=200)
    input = serializers.JSONField(required=False, help_text="kept bounded, or not at all (settings)")
    output = serializers.JSONField(required=False)
    provider = StrictCharField(required=False, max_length=50)
    tokenUsage = TokenUsageDoc(required=False)
    metadata = ExecutionMetadataDoc(required=False)
    userSatisfaction = StrictIntegerField(required=False, min_value=1, max_value=5)
    converted = serializers.BooleanField(required=False)
    abTestId = serializers.UUIDField(required=False)
    variantId = StrictCharField(required=False, max_length=100)
    error = ErrorDoc(required=False, help_text="for status error or timeout")


class BatchInput(serializers.Serializer):
    executions = ExecutionInput(many=True, help_text="1 to 1,000 reports")


class BatchOutput(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField(
        help_text="reports not stored: their template already had their requestId, or it came earlier in the batch"
    )


# Queries


class MomentField(serializers.DateTimeField):
    """An ISO 8601 time with a zone, as UTC, within the reach of a window (analytics.windows)."""

    default_error_messages = {
        "invalid": "must be an ISO 8601 time with a zone, e.g. 2026-01-31T00:00:00Z",
        "naive": "needs a time zone (e.g. Z or +02:00)",
        "out_of_reach": f"must be {_WINDOW_REACH}",
    }

    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str):
            self.fail("invalid")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail("invalid")
        if moment.utcoffset() is None:
            self.fail("naive")
        # Compared before converting: 0001-01-01T00:00:00+14:00 has no year in UTC to be converted into.
        if not EARLIEST <= moment <= timezone.now() + AHEAD:
            self.fail("out_of_reach")
        return moment.astimezone(UTC)


class WindowQuery(serializers.Serializer):
    """A window [startDate, endDate) and an environment; `window` in the validated data."""

    DEFAULT_DAYS: int | None = None  # startDate left out: this many days before endDate (None: all time)

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
            start = max(EARLIEST, end - timedelta(days=self.DEFAULT_DAYS))
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


class AnalyticsQuery(WindowQuery):
    DEFAULT_DAYS = 30

    templateId = serializers.UUIDField()
    startDate = MomentField(
        required=False,
        help_text=f"included: the window is [startDate, endDate); {_WINDOW_REACH}; default: 30 days before endDate",
    )
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


def _iso(moment: Any) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def execution_json(execution: Execution, *, duplicate: bool = False) -> dict[str, Any]:
    """A stored execution, in the shape it was reported in."""
    return {
        "id": str(execution.id),
        "templateVersionId": str(execution.version_id),
        "templateId": str(execution.template_id),
        "environment": execution.environment,
        "status": execution.status,
        "timestamp": _iso(execution.executed_at),
        "receivedAt": _iso(execution.received_at),
        "responseTime": execution.response_time_ms,
        "tokenUsage": {
            "inputTokens": execution.input_tokens,
            "outputTokens": execution.output_tokens,
            "totalTokens": execution.total_tokens,
            "cost": execution.cost,
        },
        "provider": execution.provider,
        "userId": execution.user_ref,
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
    """The answer to a duplicate: what the caller sent, and the id of the execution stored for its request id
    before; nothing of that execution's contents."""
    return {
        "id": str(stored_id),
        "templateId": str(report.template_id),
        "templateVersionId": str(report.version_id),
        "requestId": report.request_id,
        "duplicate": True,
    }
