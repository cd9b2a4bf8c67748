"""The JSON of render, resolve, deployments and the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from lifecycle.core.api.inputs import EnvironmentField, StrictCharField
from lifecycle.core.api.schema import declare_field
from lifecycle.core.environments import ENVIRONMENTS, NOT_AN_ENVIRONMENT, Environment
from lifecycle.core.exceptions import InvalidInput
from lifecycle.releases.models import Deployment
from lifecycle.releases.selectors import VersionLiveState
from templates_app.api.serializers import (
    AnyValueField,
    ContentField,
    MessagesField,
    ModelConfigField,
    TemplateContentOutput,
    VariablesField,
    VersionOutput,
)
from templates_app.models import PromptTemplate, TemplateVersion


class RenderInput(serializers.Serializer):
    """Documents the render body; `read_render_input` checks it (the same rules, without DRF's cost)."""

    environment = EnvironmentField(default=Environment.PRODUCTION)
    variables = serializers.DictField(default=dict, help_text="values by variable name")
    subjectId = StrictCharField(
        required=False, min_length=1, max_length=200, help_text="who the prompt is for (A/B assignment)"
    )


@dataclass(frozen=True)
class RenderRequest:
    environment: str
    variables: dict[str, Any]
    subject_id: str | None


def read_render_input(data: Mapping[str, Any]) -> RenderRequest:
    """The render body, checked by hand: a DRF serializer costs a third of a render request, mostly in
    copying its fields. The rules are RenderInput's (tests/test_render.py holds both to the same answers)."""
    problems: dict[str, list[str]] = {}
    environment = data.get("environment", Environment.PRODUCTION)
    if not isinstance(environment, str) or environment not in ENVIRONMENTS:
        problems["environment"] = [NOT_AN_ENVIRONMENT]
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        problems["variables"] = ["must be an object of values by variable name"]
    subject_id = data.get("subjectId")
    if subject_id is not None and (not isinstance(subject_id, str) or not subject_id or len(subject_id) > 200):
        problems["subjectId"] = ["must be a string of 1 to 200 characters"]
    if problems:
        raise InvalidInput.of(problems)
    return RenderRequest(environment=environment, variables=variables, subject_id=subject_id)


class EnvironmentInput(serializers.Serializer):
    environment = EnvironmentField()


class RenderOutput(serializers.Serializer):
    templateId = serializers.UUIDField()
    versionId = serializers.UUIDField()
    version = serializers.CharField()
    environment = serializers.ChoiceField(choices=Environment.choices)
    rendered = serializers.CharField(required=False, help_text="for a text prompt")
    messages = MessagesField(required=False, help_text="for a chat prompt")
    modelConfig = ModelConfigField()


class ResolveOutput(serializers.Serializer):
    templateId = serializers.UUIDField()
    versionId = serializers.UUIDField()
    version = serializers.CharField()
    environment = serializers.ChoiceField(choices=Environment.choices)
    content = ContentField()
    messages = MessagesField()
    variables = VariablesField()
    modelConfig = ModelConfigField()
    provider = serializers.CharField()


class DeploymentOutput(serializers.Serializer):
    id = serializers.UUIDField()
    templateId = serializers.UUIDField(source="template_id")
    versionId = serializers.UUIDField(source="version_id")
    version = serializers.CharField(source="version.number")
    environment = serializers.ChoiceField(choices=Environment.choices)
    status = serializers.ChoiceField(source="state", choices=Deployment.State.choices)
    kind = serializers.ChoiceField(
        choices=Deployment.Kind.choices, help_text="deploy, or redeploy of a version that was active here before"
    )
    deployedBy = serializers.CharField(source="deployed_by.username")
    deployedAt = serializers.DateTimeField(source="deployed_at")


class AuditChangeOutput(serializers.Serializer):
    field = serializers.CharField()
    to = AnyValueField(help_text="the value after (names for tags, maintainers and groups)")


declare_field(AuditChangeOutput, "from", AnyValueField(help_text="the value before"))


class AuditEntryOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    by = serializers.CharField(allow_null=True)
    subject = serializers.ChoiceField(
        choices=["template", "version", "approval", "approval stage", "approval comment", "deployment"]
    )
    subjectId = serializers.CharField(source="subject_id")
    action = serializers.ChoiceField(choices=["created", "changed", "deleted"])
    summary = serializers.CharField()
    changes = AuditChangeOutput(many=True, help_text="for a change: each field that changed")


class VersionDetailOutput(VersionOutput):
    """A version, with where it may be deployed and where it serves (the context's `live`, by version id)."""

    status = serializers.SerializerMethodField(help_text="active: serving in at least one environment")
    approvedFor = serializers.SerializerMethodField(help_text="the environments it may be deployed to")
    activeIn = serializers.SerializerMethodField(help_text="the environments it serves now")

    def _live(self, version: TemplateVersion) -> VersionLiveState:
        return self.context["live"].get(version.pk) or VersionLiveState()

    @extend_schema_field(serializers.ChoiceField(choices=["active", "inactive"]))
    def get_status(self, version: TemplateVersion) -> str:
        return "active" if self._live(version).active_in else "inactive"

    def get_approvedFor(self, version: TemplateVersion) -> list[str]:
        return list(self._live(version).approved_for)

    def get_activeIn(self, version: TemplateVersion) -> list[str]:
        return list(self._live(version).active_in)


class ActiveVersionOutput(serializers.Serializer):
    versionId = serializers.UUIDField(source="version_id")
    version = serializers.CharField(source="version.number")
    deployedAt = serializers.DateTimeField(source="deployed_at")
    deployedBy = serializers.CharField(source="deployed_by.username")


# For the schema: one key per environment, each the active version there or null.
ActiveVersionsOutput = type(
    "ActiveVersionsOutput",
    (serializers.Serializer,),
    {environment: ActiveVersionOutput(allow_null=True) for environment in Environment.values},
)


class TemplateDetailOutput(TemplateContentOutput):
    """A template, its latest version and every version, and what each environment serves (the context's
    `active`: the active deployment by environment)."""

    activeVersions = serializers.SerializerMethodField()

    @extend_schema_field(ActiveVersionsOutput(help_text="each environment's active version, or null"))
    def get_activeVersions(self, template: PromptTemplate) -> dict[str, Any]:
        active: dict[str, Deployment] = self.context["active"]
        return {
            environment: ActiveVersionOutput(active[environment]).data if environment in active else None
            for environment in Environment.values
        }
