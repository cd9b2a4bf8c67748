"""The JSON of executions and performance (API.md, "Executions and performance").

Reports are checked by analytics.reports (by hand, for speed); the serializers here document the bodies.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from analytics.models import Execution
from lifecycle.core.api.inputs import EnvironmentField, StrictCharField, StrictIntegerField


class TokenUsageDoc(serializers.Serializer):
    inputTokens = StrictIntegerField(required=False, min_value=0)
    outputTokens = StrictIntegerField(required=False, min_value=0)
    totalTokens = StrictIntegerField(required=False, min_value=0, help_text="inputTokens + outputTokens")
    cost = serializers.FloatField(required=False, min_value=0)


class ExecutionMetadataDoc(serializers.Serializer):
    userAgent = StrictCharField(required=False, max_length=500)
    region = StrictCharField(required=False, max_length=50)
    requestId = StrictCharField(required=False, max_length=200, help_text="the same id again is stored once")


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
    duplicates = serializers.IntegerField(help_text="already stored, or repeated in the batch (by requestId)")


def _iso(moment: Any) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def execution_json(execution: Execution) -> dict[str, Any]:
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
    }
