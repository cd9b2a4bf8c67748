"""The JSON of approval workflows (API.md, "Approval workflows")."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from approvals.models import ApprovalRequest, ApprovalStage
from approvals.selectors import workflow_history
from approvals.services import MAX_COMMENT_LENGTH
from lifecycle.core.api.inputs import EnvironmentField, StrictCharField, StrictIntegerField, StrictUUIDField
from lifecycle.core.api.outputs import UsernameField
from lifecycle.core.environments import Environment


class SubmitInput(serializers.Serializer):
    versionId = StrictUUIDField()
    environment = EnvironmentField(help_text="staging or production (development needs no approval)")


class DecisionData(serializers.Serializer):
    stageIndex = StrictIntegerField(min_value=0)
    comment = StrictCharField(
        required=False, allow_blank=True, default="", max_length=MAX_COMMENT_LENGTH, help_text="required to reject"
    )


class DecisionInput(serializers.Serializer):
    versionId = StrictUUIDField()
    environment = EnvironmentField(
        required=False, help_text="may be left out when the version waits in one environment only"
    )
    data = DecisionData()  # type: ignore[assignment]  # the API's key (DRF keeps .data working)


class CommentInput(serializers.Serializer):
    versionId = StrictUUIDField()
    environment = EnvironmentField(required=False)
    comment = StrictCharField(max_length=MAX_COMMENT_LENGTH)


class PendingQuery(serializers.Serializer):
    approverId = StrictCharField(
        required=False, max_length=150, help_text="a reviewer's username (default: you); another's: superusers only"
    )


class CancelInput(serializers.Serializer):
    versionId = StrictUUIDField()
    environment = EnvironmentField(required=False)


class StageOutput(serializers.Serializer):
    index = serializers.IntegerField()
    role = serializers.CharField(source="role.name", help_text="the group whose members decide it")
    status = serializers.ChoiceField(source="state", choices=ApprovalStage.State.choices)
    decidedBy = UsernameField(source="decided_by")
    comment = serializers.CharField()
    decidedAt = serializers.DateTimeField(source="decided_at", allow_null=True)


class ApprovalRequestOutput(serializers.Serializer):
    id = serializers.UUIDField()
    versionId = serializers.UUIDField(source="version_id")
    version = serializers.CharField(source="version.number")
    templateId = serializers.UUIDField(source="version.template_id")
    templateName = serializers.CharField(source="version.template.name")
    environment = serializers.ChoiceField(choices=Environment.choices)
    status = serializers.ChoiceField(source="state", choices=ApprovalRequest.State.choices)
    submittedBy = UsernameField(source="submitted_by")
    submittedAt = serializers.DateTimeField(source="submitted_at")
    decidedAt = serializers.DateTimeField(source="decided_at", allow_null=True)
    stages = StageOutput(many=True, source="stages.all")


class CommentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    requestId = serializers.UUIDField(source="request_id")
    author = UsernameField()
    comment = serializers.CharField(source="body")
    createdAt = serializers.DateTimeField(source="created_at")


class WorkflowEventOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    by = serializers.CharField(allow_null=True)
    event = serializers.CharField(help_text="submitted, stage approved, stage rejected, commented, approved, ...")
    stageIndex = serializers.IntegerField(source="stage_index", allow_null=True)
    comment = serializers.CharField()


class ApprovalRequestDetailOutput(ApprovalRequestOutput):
    comments = CommentOutput(many=True, source="comments.all")
    history = serializers.SerializerMethodField()

    @extend_schema_field(WorkflowEventOutput(many=True))
    def get_history(self, request: ApprovalRequest) -> list[dict[str, Any]]:
        return WorkflowEventOutput(workflow_history(request), many=True).data  # type: ignore[return-value]


class CurrentStageOutput(serializers.Serializer):
    index = serializers.IntegerField(source="current_index")
    role = serializers.CharField(source="current_role")


class PendingRequestOutput(ApprovalRequestOutput):
    currentStage = CurrentStageOutput(source="*")
    waitingSince = serializers.DateTimeField(source="waiting_since")
    waitingSeconds = serializers.SerializerMethodField()

    def get_waitingSeconds(self, request: Any) -> int:
        return int((self.context["now"] - request.waiting_since).total_seconds())
