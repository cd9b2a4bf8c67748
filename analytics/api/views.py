"""Executions and performance over HTTP: parse, call a service or selector, serialize."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.serializers import (
    AnalyticsOutput,
    AnalyticsQuery,
    BatchInput,
    BatchOutput,
    ExecutionInput,
    ExecutionOutput,
    ExecutionReceiptOutput,
    MetricsOutput,
    MetricsQuery,
    OverviewOutput,
    OverviewQuery,
    execution_json,
    receipt_json,
)
from analytics.metrics import template_analytics, templates_overview, version_metrics
from analytics.services import read_batch, read_single_report, record_execution, record_executions
from lifecycle.core.api.inputs import validated
from lifecycle.core.api.schema import errors
from lifecycle.core.roles import acting_user


class ExecutionApi(APIView):
    throttle_scope = "ingestion"

    @extend_schema(
        request=ExecutionInput,
        responses={
            201: OpenApiResponse(ExecutionOutput, description="Stored."),
            200: OpenApiResponse(
                ExecutionReceiptOutput,
                description="The template already has an execution with this metadata.requestId: nothing stored.",
            ),
            **errors(403),
        },
        summary="Record an execution",
    )
    def post(self, request: Request) -> Response:
        recorded = record_execution(read_single_report(request.data, actor=acting_user(request)))
        if recorded.execution is not None:
            return Response(execution_json(recorded.execution), status=status.HTTP_201_CREATED)
        return Response(receipt_json(recorded.report, recorded.stored_id), status=status.HTTP_200_OK)


class ExecutionBatchApi(APIView):
    throttle_scope = "ingestion"

    @extend_schema(
        request=BatchInput,
        responses={201: BatchOutput, **errors(403)},
        summary="Record up to 1,000 executions (all or nothing)",
    )
    def post(self, request: Request) -> Response:
        recorded = record_executions(read_batch(request.data, actor=acting_user(request)))
        body = {"created": len(recorded.created), "duplicates": len(recorded.duplicates)}
        return Response(body, status=status.HTTP_201_CREATED)


class MetricsApi(APIView):
    @extend_schema(
        parameters=[MetricsQuery],
        responses={200: MetricsOutput, **errors(403, 404)},
        summary="A version's metrics (default window: all time)",
    )
    def get(self, request: Request) -> Response:
        query = validated(MetricsQuery, request.query_params)
        answer = version_metrics(
            actor=acting_user(request),
            version_id=query["versionId"],
            window=query["window"],
            environment=query.get("environment"),
        )
        return Response(answer)


class AnalyticsApi(APIView):
    @extend_schema(
        parameters=[AnalyticsQuery],
        responses={200: AnalyticsOutput, **errors(403, 404)},
        summary="A template's analytics (default window: the last 30 days)",
    )
    def get(self, request: Request) -> Response:
        query = validated(AnalyticsQuery, request.query_params)
        answer = template_analytics(
            actor=acting_user(request),
            template_id=query["templateId"],
            window=query["window"],
            environment=query.get("environment"),
            granularity=query["granularity"],
        )
        return Response(answer)


class OverviewApi(APIView):
    @extend_schema(
        parameters=[OverviewQuery],
        responses={200: OverviewOutput, **errors()},
        summary="Every template's numbers you may read, side by side (default window: the last 7 days)",
    )
    def get(self, request: Request) -> Response:
        query = validated(OverviewQuery, request.query_params)
        answer = templates_overview(
            actor=acting_user(request),
            window=query["window"],
            granularity=query["granularity"],
            environment=query.get("environment"),
            name_contains=query.get("name", ""),
        )
        return Response(answer)
