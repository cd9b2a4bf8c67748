"""Executions and performance over HTTP: parse, call a service or selector, serialize."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.serializers import BatchInput, BatchOutput, ExecutionInput, execution_json
from analytics.metrics import check_may_read, template_analytics, version_metrics
from analytics.models import Execution
from analytics.services import MAX_BATCH, read_reports, record_executions
from analytics.windows import Window
from lifecycle.core.environments import ENVIRONMENTS, check_environment
from lifecycle.core.exceptions import InvalidInput
from templates_app.selectors import template_row, version_by_id, versions_of


class ExecutionApi(APIView):
    @extend_schema(request=ExecutionInput, responses={201: dict, 200: dict}, summary="Record an execution")
    def post(self, request: Request) -> Response:
        (report,) = _one(request.data)
        recorded = record_executions([report])
        if recorded.created:
            stored = Execution.objects.get(pk=report.id)
            return Response(execution_json(stored), status=status.HTTP_201_CREATED)
        stored = Execution.objects.get(request_id=report.request_id)
        return Response(execution_json(stored), status=status.HTTP_200_OK)


def _one(data: Any) -> list[Any]:
    try:
        return read_reports([data])
    except InvalidInput as exc:
        # A single report's fields are named without the batch's `executions[0].` prefix.
        fields = {path.removeprefix("executions[0].") or "body": msgs for path, msgs in exc.fields.items()}
        raise InvalidInput.of(fields) from None


class ExecutionBatchApi(APIView):
    @extend_schema(request=BatchInput, responses={201: BatchOutput}, summary="Record up to 1,000 executions")
    def post(self, request: Request) -> Response:
        executions = request.data.get("executions")  # type: ignore[union-attr]  # StrictJSONParser: an object
        if not isinstance(executions, list) or not 1 <= len(executions) <= MAX_BATCH:
            raise InvalidInput.at("executions", f"must be a list of 1 to {MAX_BATCH} executions")
        recorded = record_executions(read_reports(executions))
        body = {"created": len(recorded.created), "duplicates": len(recorded.duplicates)}
        return Response(body, status=status.HTTP_201_CREATED)


def _moment(request: Request, name: str) -> datetime | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput.at(name, "must be an ISO 8601 time with a zone, e.g. 2026-01-31T00:00:00Z") from None
    if moment.tzinfo is None:
        raise InvalidInput.at(name, "needs a time zone (e.g. Z)")
    return moment.astimezone(UTC)


def _window(request: Request, default_days: int | None) -> Window:
    end = _moment(request, "endDate") or timezone.now()
    start = _moment(request, "startDate")
    if start is None and default_days is not None:
        start = end - timedelta(days=default_days)
    if start is not None and start >= end:
        raise InvalidInput.at("startDate", "must be before endDate")
    return Window(start, end)


def _environment(request: Request) -> str | None:
    value = request.query_params.get("environment")
    return check_environment(value) if value is not None else None


def _uuid(request: Request, name: str) -> UUID:
    value = request.query_params.get(name)
    if value is None:
        raise InvalidInput.at(name, "is required")
    try:
        return UUID(value)
    except ValueError:
        raise InvalidInput.at(name, "must be an id (a UUID)") from None


_WINDOW_PARAMETERS = [
    OpenApiParameter("startDate", str, description="ISO 8601 with a zone; the window is [startDate, endDate)"),
    OpenApiParameter("endDate", str, description="ISO 8601 with a zone; default now"),
    OpenApiParameter("environment", str, enum=list(ENVIRONMENTS)),
]


class MetricsApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("versionId", UUID, required=True), *_WINDOW_PARAMETERS],
        responses=dict,
        summary="A version's metrics (default window: all time)",
    )
    def get(self, request: Request) -> Response:
        version = version_by_id(_uuid(request, "versionId"))
        check_may_read(request.user, version.template.created_by_id)
        return Response(version_metrics(version, _window(request, None), _environment(request)))


class AnalyticsApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("templateId", UUID, required=True),
            *_WINDOW_PARAMETERS,
            OpenApiParameter("granularity", str, enum=["hour", "day"], description="default: day over 3 days"),
        ],
        responses=dict,
        summary="A template's analytics (default window: the last 30 days)",
    )
    def get(self, request: Request) -> Response:
        template = template_row(_uuid(request, "templateId"))
        check_may_read(request.user, template.created_by_id)
        window = _window(request, 30)
        granularity = request.query_params.get("granularity")
        if granularity is None:
            granularity = "day" if window.start is None or window.end - window.start > timedelta(days=3) else "hour"
        if granularity not in ("hour", "day"):
            raise InvalidInput.at("granularity", "must be hour or day")
        if granularity == "hour" and window.start is not None and window.end - window.start > timedelta(days=31):
            raise InvalidInput.at("granularity", "hour is for windows of up to 31 days")
        versions = {version.pk: version.number for version in versions_of(template.pk)}
        return Response(template_analytics(template, versions, window, _environment(request), granularity))
