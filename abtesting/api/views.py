"""A/B tests over HTTP: parse, call a service or selector, serialize. No rules here.

`/api/abtests/{id}/promote` deploys a variant: lifecycle.releases composes it, where deployments are."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from abtesting import services
from abtesting.api.serializers import (
    ABTestCreateInput,
    ABTestOutput,
    ABTestQuery,
    ABTestResultsOutput,
    AssignInput,
    AssignOutput,
    ReasonInput,
    TestIdInput,
    create_fields,
)
from abtesting.models import ABTest
from abtesting.results import results_for
from abtesting.selectors import abtest_by_id, abtests_matching
from abtesting.serving import assign
from lifecycle.core.api.inputs import validated
from lifecycle.core.api.schema import errors
from lifecycle.core.roles import acting_user

# The original README's payload, with the template and environment API.md adds.
_EXAMPLE = {
    "name": "Response Quality Test",
    "description": "Testing improved response generation",
    "templateId": "0b5c3e4e-2f5d-4c38-9a51-3c8f2a7d9e10",
    "environment": "production",
    "variants": [
        {
            "id": "control",
            "name": "Original",
            "templateVersionId": "4a1f0c9e-7d2b-4a53-8f6e-1b2c3d4e5f60",
            "trafficPercentage": 50,
            "description": "Current production template",
        },
        {
            "id": "variant-a",
            "name": "Improved",
            "templateVersionId": "5b2e1d0f-8e3c-4b64-9a7f-2c3d4e5f6a71",
            "trafficPercentage": 50,
            "description": "Enhanced template with better context",
        },
    ],
    "trafficSplit": {"control": 50, "variant-a": 50},
    "startDate": "2025-01-10T00:00:00Z",
    "successMetrics": [
        {"name": "user_satisfaction", "type": "user_satisfaction", "target": 4.5, "weight": 0.7},
        {"name": "response_time", "type": "response_time", "target": 1000, "weight": 0.3},
    ],
    "hypothesis": "Enhanced context will improve user satisfaction by 15%",
}


def _output(test: ABTest) -> dict[str, Any]:
    return ABTestOutput(abtest_by_id(test.pk)).data  # type: ignore[return-value]


class ABTestCreateApi(APIView):
    @extend_schema(
        request=ABTestCreateInput,
        responses={201: ABTestOutput, **errors(403)},
        examples=[OpenApiExample("the README's test", value=_EXAMPLE, request_only=True)],
        summary="Create an A/B test, in draft (the template's maintainers, deployers): 400 names each wrong field",
    )
    def post(self, request: Request) -> Response:
        data = validated(ABTestCreateInput, request.data)
        test = services.create_test(actor=acting_user(request), **create_fields(data))
        return Response(_output(test), status=status.HTTP_201_CREATED)


class ABTestStartApi(APIView):
    @extend_schema(
        request=TestIdInput,
        responses={200: ABTestOutput, **errors(403, 404, 409)},
        summary="Start a draft test, or resume a paused one (deployers): 409 when another runs",
    )
    def post(self, request: Request) -> Response:
        data = validated(TestIdInput, request.data)
        return Response(_output(services.start_test(actor=acting_user(request), test_id=data["testId"])))


class ABTestPauseApi(APIView):
    @extend_schema(
        request=TestIdInput,
        responses={200: ABTestOutput, **errors(403, 404, 409)},
        summary="Pause a running test (deployers)",
    )
    def post(self, request: Request) -> Response:
        data = validated(TestIdInput, request.data)
        return Response(_output(services.pause_test(actor=acting_user(request), test_id=data["testId"])))


class ABTestStopApi(APIView):
    @extend_schema(
        request=ReasonInput,
        responses={200: ABTestOutput, **errors(403, 404, 409)},
        summary="Stop a running or paused test: completed (deployers)",
    )
    def post(self, request: Request) -> Response:
        data = validated(ReasonInput, request.data)
        test = services.stop_test(actor=acting_user(request), test_id=data["testId"], reason=data.get("reason", ""))
        return Response(_output(test))


class ABTestCancelApi(APIView):
    @extend_schema(
        request=ReasonInput,
        responses={200: ABTestOutput, **errors(403, 404, 409)},
        summary="Cancel a draft (its creators) or a paused test (deployers)",
    )
    def post(self, request: Request) -> Response:
        data = validated(ReasonInput, request.data)
        test = services.cancel_test(actor=acting_user(request), test_id=data["testId"], reason=data.get("reason", ""))
        return Response(_output(test))


class ABTestListApi(generics.GenericAPIView):
    queryset = ABTest.objects.none()  # for the schema; get() reads abtests_matching()
    serializer_class = ABTestOutput

    @extend_schema(
        parameters=[ABTestQuery], responses={200: ABTestOutput(many=True)}, summary="A/B tests, newest first"
    )
    def get(self, request: Request) -> Response:
        query = validated(ABTestQuery, request.query_params)
        page = self.paginate_queryset(abtests_matching(template_id=query.get("templateId"), state=query.get("status")))
        return self.get_paginated_response(ABTestOutput(page, many=True).data)


class ABTestDetailApi(APIView):
    @extend_schema(responses={200: ABTestOutput, **errors(404)}, summary="An A/B test")
    def get(self, request: Request, test_id: UUID) -> Response:
        return Response(ABTestOutput(abtest_by_id(test_id)).data)


class ABTestAssignApi(APIView):
    @extend_schema(
        request=AssignInput,
        responses={200: AssignOutput, **errors(404, 409)},
        summary="The subject's variant: deterministic and sticky (what render serves it); 409 once the test ended",
    )
    def post(self, request: Request, test_id: UUID) -> Response:
        data = validated(AssignInput, request.data)
        test, variant = assign(test_id=test_id, subject_id=data["subjectId"])
        return Response(
            {
                "abTestId": str(test.pk),
                "variantId": variant.key,
                "templateVersionId": str(variant.version_id),
                "status": test.state,
            }
        )


class ABTestResultsApi(APIView):
    @extend_schema(
        responses={200: ABTestResultsOutput, **errors(403, 404)},
        summary="An A/B test's results: per variant, against the control, sample ratio, winner (who may read the "
        "template's analytics)",
    )
    def get(self, request: Request, test_id: UUID) -> Response:
        return Response(ABTestResultsOutput(results_for(actor=acting_user(request), test_id=test_id)).data)
