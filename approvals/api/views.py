"""Approval workflows over HTTP: parse, call a service or selector, serialize. No rules here."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals import services
from approvals.api.serializers import (
    ApprovalRequestDetailOutput,
    ApprovalRequestOutput,
    CancelInput,
    CommentInput,
    CommentOutput,
    DecisionInput,
    PendingQuery,
    PendingRequestOutput,
    SubmitInput,
)
from approvals.models import ApprovalRequest
from approvals.selectors import request_by_id, request_id_for, review_queue
from lifecycle.core.api.inputs import validated
from lifecycle.core.api.schema import errors
from lifecycle.core.roles import acting_user


def _request_output(request: ApprovalRequest) -> dict[str, Any]:
    return ApprovalRequestOutput(request_by_id(request.pk)).data  # type: ignore[return-value]


class SubmitApi(APIView):
    @extend_schema(
        request=SubmitInput,
        responses={201: ApprovalRequestOutput, **errors(403, 404, 409)},
        summary="Submit a version for approval in an environment",
    )
    def post(self, request: Request) -> Response:
        data = validated(SubmitInput, request.data)
        approval = services.submit_for_approval(
            actor=acting_user(request), version_id=data["versionId"], environment=data["environment"]
        )
        return Response(_request_output(approval), status=status.HTTP_201_CREATED)


class ApproveApi(APIView):
    @extend_schema(
        request=DecisionInput,
        responses={200: ApprovalRequestOutput, **errors(403, 404, 409)},
        summary="Approve the current stage",
    )
    def post(self, request: Request) -> Response:
        data = validated(DecisionInput, request.data)
        approval = services.approve_stage(
            actor=acting_user(request),
            request_id=request_id_for(data["versionId"], data.get("environment")),
            stage_index=data["data"]["stageIndex"],
            comment=data["data"]["comment"],
        )
        return Response(_request_output(approval))


class RejectApi(APIView):
    @extend_schema(
        request=DecisionInput,
        responses={200: ApprovalRequestOutput, **errors(403, 404, 409)},
        summary="Reject the current stage (a comment says why)",
    )
    def post(self, request: Request) -> Response:
        data = validated(DecisionInput, request.data)
        approval = services.reject_stage(
            actor=acting_user(request),
            request_id=request_id_for(data["versionId"], data.get("environment")),
            stage_index=data["data"]["stageIndex"],
            comment=data["data"]["comment"],
        )
        return Response(_request_output(approval))


class CancelApi(APIView):
    @extend_schema(
        request=CancelInput,
        responses={200: ApprovalRequestOutput, **errors(403, 404, 409)},
        summary="Withdraw a pending request",
    )
    def post(self, request: Request) -> Response:
        data = validated(CancelInput, request.data)
        approval = services.cancel_request(
            actor=acting_user(request), request_id=request_id_for(data["versionId"], data.get("environment"))
        )
        return Response(_request_output(approval))


class CommentApi(APIView):
    @extend_schema(
        request=CommentInput, responses={201: CommentOutput, **errors(403, 404)}, summary="Comment on a request"
    )
    def post(self, request: Request) -> Response:
        data = validated(CommentInput, request.data)
        comment = services.add_comment(
            actor=acting_user(request),
            request_id=request_id_for(data["versionId"], data.get("environment")),
            body=data["comment"],
        )
        return Response(CommentOutput(comment).data, status=status.HTTP_201_CREATED)


class PendingApi(generics.GenericAPIView):
    queryset = ApprovalRequest.objects.none()  # for the schema; get() reads requests_waiting_for()
    serializer_class = PendingRequestOutput

    @extend_schema(
        parameters=[PendingQuery],
        responses={200: PendingRequestOutput(many=True), **errors(403)},
        summary="What waits for a reviewer, oldest first",
    )
    def get(self, request: Request) -> Response:
        query = validated(PendingQuery, request.query_params)
        queue = review_queue(actor=acting_user(request), reviewer_username=query.get("approverId"))
        page = self.paginate_queryset(queue.prefetch_related("stages__decided_by", "stages__role"))
        output = PendingRequestOutput(page, many=True, context={"now": timezone.now()})
        return self.get_paginated_response(output.data)


class RequestDetailApi(APIView):
    @extend_schema(
        responses={200: ApprovalRequestDetailOutput, **errors(404)},
        summary="A request, its stages, comments and history",
    )
    def get(self, request: Request, request_id: UUID) -> Response:
        return Response(ApprovalRequestDetailOutput(request_by_id(request_id)).data)
