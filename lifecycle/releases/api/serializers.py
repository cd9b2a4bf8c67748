"""The JSON of render, resolve, deployments, rollbacks and the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from abtesting.api.serializers import ABTestOutput
from analytics.models import SUBJECT_ID_MAX_LENGTH
from approvals.api.serializers import ApprovalRequestDetailOutput
from lifecycle.core.api.inputs import EnvironmentField, StrictBooleanField, StrictCharField, StrictUUIDField
from lifecycle.core.api.schema import declare_field
from lifecycle.core.environments import ENVIRONMENTS, NOT_AN_ENVIRONMENT, Environment
from lifecycle.core.exceptions import InvalidInput
from lifecycle.releases.bundles import MAX_BUNDLE_TEMPLATES, MAX_REFERENCE_LENGTH, MAX_SET_TEMPLATES
from lifecycle.releases.models import REASON_MAX_LENGTH, ROLLBACK_KINDS, Deployment, Rollback
from lifecycle.releases.selectors import RollbackValidation, VersionLiveState
from templates_app.api.serializers import (
    AnyValueField,
    ContentField,
    IncludedPartOutput,
    MessagesField,
    ModelConfigField,
    TemplateContentOutput,
    VariablesField,
    VersionChangeOutput,
    VersionDiffOutput,
    VersionOutput,
)
from templates_app.models import PromptTemplate, TemplateVersion


class RenderInput(serializers.Serializer):
    """Documents the render body; `read_render_input` checks it (the same rules, without DRF's cost)."""

    environment = EnvironmentField(default=Environment.PRODUCTION)
    variables = serializers.DictField(default=dict, help_text="values by variable name")
    subjectId = StrictCharField(
        required=False,
        min_length=1,
        max_length=SUBJECT_ID_MAX_LENGTH,
        help_text="who the prompt is for (A/B assignment)",
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
    if subject_id is not None and (
        not isinstance(subject_id, str) or not subject_id or len(subject_id) > SUBJECT_ID_MAX_LENGTH
    ):
        problems["subjectId"] = [f"must be a string of 1 to {SUBJECT_ID_MAX_LENGTH} characters"]
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
    abTestId = serializers.UUIDField(
        required=False, help_text="with a subjectId while an A/B test runs (or is paused) there: the test"
    )
    variantId = serializers.CharField(
        required=False, help_text="the subject's variant (the control while the test is paused); report it back"
    )


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
    includes = IncludedPartOutput(
        many=True,
        help_text="the templates `content` (or `messages`) was built from, at the exact versions resolved when "
        "the version was created; already spliced in: render `content` as it is",
    )


class BundleQuery(serializers.Serializer):
    template = serializers.ListField(
        child=StrictCharField(max_length=MAX_REFERENCE_LENGTH),
        min_length=1,
        max_length=MAX_BUNDLE_TEMPLATES,
        help_text=f"a template's id or name (names ignore case); repeat it for each (at most {MAX_BUNDLE_TEMPLATES})",
    )
    environment = EnvironmentField(default=Environment.PRODUCTION)


class TemplateSetInput(serializers.Serializer):
    templates = serializers.ListField(
        child=StrictCharField(max_length=MAX_REFERENCE_LENGTH),
        min_length=1,
        max_length=MAX_SET_TEMPLATES,
        help_text=f"templates' ids or names (names ignore case), at most {MAX_SET_TEMPLATES}",
    )
    environment = EnvironmentField(default=Environment.PRODUCTION)


class BundleVersionOutput(serializers.Serializer):
    """A version as a client renders it: its text (or messages) with any includes already spliced in."""

    versionId = serializers.UUIDField()
    templateId = serializers.UUIDField()
    version = serializers.CharField()
    content = ContentField(required=False, help_text="a text prompt's content (absent for a chat prompt)")
    messages = MessagesField(required=False, help_text="a chat prompt's messages (absent for a text prompt)")
    variables = VariablesField()
    modelConfig = ModelConfigField()
    provider = serializers.CharField()


class BundleVariantOutput(serializers.Serializer):
    id = serializers.CharField(help_text="the variant's id, as render answers it in `variantId`")
    versionId = serializers.UUIDField()
    trafficPercentage = serializers.FloatField()
    control = serializers.BooleanField()


class BundleTestOutput(serializers.Serializer):
    id = serializers.UUIDField()
    running = serializers.BooleanField(help_text="false while paused: every subject is served the control")
    variants = BundleVariantOutput(many=True, help_text="in order: assignment lays their percentages end to end")


class BundleTemplateOutput(serializers.Serializer):
    reference = serializers.CharField(help_text="the id or name as asked")
    templateId = serializers.UUIDField()
    name = serializers.CharField()
    activeVersionId = serializers.UUIDField(allow_null=True, help_text="null: nothing is active there")
    abTest = BundleTestOutput(
        allow_null=True, help_text="the A/B test live on it there (renders with a subject are assigned a variant)"
    )


class BundleOutput(serializers.Serializer):
    setId = serializers.CharField(
        required=False, help_text="a registered set's id (POST and GET /api/templates/bundle/{setId} only)"
    )
    environment = serializers.ChoiceField(choices=Environment.choices)
    templates = BundleTemplateOutput(many=True, help_text="the templates found, in the order asked")
    versions = serializers.DictField(
        child=BundleVersionOutput(), help_text="every version a template above serves or tests, by its id"
    )
    missing = serializers.ListField(child=serializers.CharField(), help_text="the references no template has")


class DeploymentOutput(serializers.Serializer):
    """One time a version was live in an environment: how it became active, who made it so, from when to
    when, and why."""

    id = serializers.UUIDField()
    templateId = serializers.UUIDField(source="template_id")
    versionId = serializers.UUIDField(source="version_id")
    version = serializers.CharField(source="version.number")
    environment = serializers.ChoiceField(choices=Environment.choices)
    status = serializers.ChoiceField(
        source="state",
        choices=Deployment.State.choices,
        help_text="active; superseded by a later deploy; or rolled back",
    )
    kind = serializers.ChoiceField(
        choices=Deployment.Kind.choices,
        help_text="how it became active: deploy; redeploy of a version that was active here before; or a manual, "
        "emergency or automatic rollback",
    )
    deployedBy = serializers.CharField(
        source="deployed_by_name", help_text="who made it active: a username, or the rule (system:rule:<id>)"
    )
    deployedAt = serializers.DateTimeField(source="deployed_at", help_text="when it became active")
    endedAt = serializers.DateTimeField(source="ended_at", allow_null=True, help_text="when it stopped (null: active)")
    endedBy = serializers.CharField(
        source="ended_by_name", allow_null=True, help_text="who ended it: a username, or the rule (null: active)"
    )
    reason = serializers.CharField(
        allow_null=True, help_text="why it became active: the reason of the rollback that made it so (else null)"
    )
    rollbackId = serializers.SerializerMethodField(help_text="the rollback that made it active (else null)")

    def to_representation(self, deployment: Deployment) -> dict[str, Any]:
        data = super().to_representation(deployment)
        data["reason"] = data["reason"] or None
        return data

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_rollbackId(self, deployment: Deployment) -> str | None:
        if deployment.kind not in ROLLBACK_KINDS:
            return None
        try:
            return str(deployment.rollback.pk)
        except Rollback.DoesNotExist:
            return None


class AuditChangeOutput(serializers.Serializer):
    field = serializers.CharField()
    to = AnyValueField(help_text="the value after (names for tags, maintainers and groups)")


declare_field(AuditChangeOutput, "from", AnyValueField(help_text="the value before"))


class AuditEntryOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    by = serializers.CharField(allow_null=True)
    subject = serializers.ChoiceField(
        choices=[
            "template",
            "version",
            "approval",
            "approval stage",
            "approval comment",
            "deployment",
            "rollback",
            "abtest",
            "abtest variant",
        ]
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
    deployedBy = serializers.CharField(source="deployed_by_name", help_text="a username, or the rule that rolled back")


# For the schema: one key per environment, each the active version there or null.
ActiveVersionsOutput = type(
    "ActiveVersionsOutput",
    (serializers.Serializer,),
    {environment: ActiveVersionOutput(allow_null=True) for environment in Environment.values},
)


class PartUpdateOutput(serializers.Serializer):
    """A lifecycle.releases.parts.PartUpdate."""

    reference = serializers.CharField(source="include.reference", help_text="as written in the latest version")
    where = serializers.CharField(source="include.where", help_text="content, or messages[i].content")
    templateId = serializers.UUIDField(source="include.part_template_id")
    name = serializers.CharField(source="include.part_template.name")
    pinned = serializers.BooleanField(
        source="include.pinned", help_text="written with a version: a refresh rewrites it to the newest"
    )
    environment = serializers.CharField(allow_null=True, help_text="unpinned: where the part is looked up")
    includedVersionId = serializers.UUIDField(source="include.part_id")
    includedVersion = serializers.CharField(source="include.part.number")
    availableVersionId = serializers.UUIDField(source="available.pk")
    availableVersion = serializers.CharField(source="available.number")


class TemplateDetailOutput(TemplateContentOutput):
    """A template, its latest version and every version, and what each environment serves (the context's
    `active`: the active deployment by environment; `updates`: its latest version's parts with an update)."""

    activeVersions = serializers.SerializerMethodField()
    updatesAvailable = serializers.SerializerMethodField()

    @extend_schema_field(
        PartUpdateOutput(
            many=True,
            help_text="the latest version's included parts that have another version to offer; "
            'POST /api/versions/create with "refreshIncludes": true makes a version with them (for review)',
        )
    )
    def get_updatesAvailable(self, template: PromptTemplate) -> list[dict[str, Any]]:
        return PartUpdateOutput(self.context["updates"], many=True).data  # type: ignore[return-value]

    @extend_schema_field(ActiveVersionsOutput(help_text="each environment's active version, or null"))
    def get_activeVersions(self, template: PromptTemplate) -> dict[str, Any]:
        active: dict[str, Deployment] = self.context["active"]
        return {
            environment: ActiveVersionOutput(active[environment]).data if environment in active else None
            for environment in Environment.values
        }


class DependentOutput(serializers.Serializer):
    """A lifecycle.releases.parts.Dependent."""

    templateId = serializers.UUIDField(source="version.template_id")
    name = serializers.CharField(source="version.template.name")
    versionId = serializers.UUIDField(source="version.pk", help_text="the dependent template's version")
    version = serializers.CharField(source="version.number")
    includedVersionId = serializers.UUIDField(
        source="included.pk", help_text="the version of this template it includes"
    )
    includedVersion = serializers.CharField(source="included.number")
    via = serializers.ListField(
        child=serializers.CharField(), help_text="the parts in between, outermost first (empty: included directly)"
    )


class EnvironmentDependentsOutput(serializers.Serializer):
    environment = serializers.ChoiceField(choices=Environment.choices)
    dependents = DependentOutput(many=True, help_text="the versions served there that include this template")


class DependentsOutput(serializers.Serializer):
    """A lifecycle.releases.parts.Dependents."""

    templateId = serializers.UUIDField(source="template.pk")
    name = serializers.CharField(source="template.name")
    environments = EnvironmentDependentsOutput(many=True, help_text="every environment, in order")
    latest = DependentOutput(
        many=True, help_text="templates whose newest version includes this template (what their next deploy carries)"
    )


class ApprovalRequestWithReachOutput(ApprovalRequestDetailOutput):
    dependents = DependentsOutput(
        help_text="the templates that include this request's template: what a new version of it could reach"
    )


# -- rollback --


class DeploymentsQuery(serializers.Serializer):
    environment = EnvironmentField(required=False, help_text="only this environment's (default: every environment)")


class RollbackValidateQuery(serializers.Serializer):
    currentVersionId = serializers.UUIDField(help_text="the version the environment serves now")
    targetVersionId = serializers.UUIDField(help_text="the version to roll back to")
    environment = EnvironmentField(default=Environment.PRODUCTION)
    force = serializers.BooleanField(
        default=False, help_text="let a breaking variable change through (superusers only: 403 for others)"
    )


class ReasonField(StrictCharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", REASON_MAX_LENGTH)
        kwargs.setdefault("help_text", "why: required, kept with the rollback and shown in the deployments' history")
        super().__init__(allow_blank=False, **kwargs)


class RollbackInitiateInput(serializers.Serializer):
    currentVersionId = StrictUUIDField(help_text="the version the environment serves now (409 if it does not)")
    targetVersionId = StrictUUIDField(
        help_text="the version to roll back to: of the same template, deployed there before"
    )
    reason = ReasonField()
    rollbackType = serializers.ChoiceField(
        choices=[Rollback.Type.MANUAL],
        default=Rollback.Type.MANUAL,
        help_text="manual (emergency rollbacks: POST /api/rollback/emergency; automatic ones come from rules)",
        error_messages={
            "invalid_choice": "must be manual: emergency rollbacks are POST /api/rollback/emergency, and automatic "
            "ones come from rules"
        },
    )
    environment = EnvironmentField(default=Environment.PRODUCTION)
    force = StrictBooleanField(
        default=False, help_text="roll back although the target breaks callers' variables (superusers only)"
    )
    userId = StrictCharField(
        required=False, max_length=200, help_text="ignored: the caller is who acts (API.md, Conventions)"
    )


class RollbackEmergencyInput(serializers.Serializer):
    templateId = StrictUUIDField()
    environment = EnvironmentField(default=Environment.PRODUCTION)
    reason = ReasonField()
    userId = StrictCharField(
        required=False, max_length=200, help_text="ignored: the caller is who acts (API.md, Conventions)"
    )


class RollbackHistoryQuery(serializers.Serializer):
    templateId = serializers.UUIDField(required=False, help_text="only this template's (default: every template's)")


class VersionRefOutput(serializers.Serializer):
    versionId = serializers.UUIDField(source="pk")
    version = serializers.CharField(source="number")


class PeriodOutput(serializers.Serializer):
    pass


declare_field(PeriodOutput, "from", serializers.DateTimeField(help_text="included"))
declare_field(PeriodOutput, "to", serializers.DateTimeField(help_text="excluded"))


class PerformanceOutput(serializers.Serializer):
    """A version's numbers in one environment over some periods (read from the analytics rollups)."""

    periods = PeriodOutput(many=True, help_text="the times counted: [from, to) each")
    executions = serializers.IntegerField()
    successRate = serializers.FloatField(allow_null=True, help_text="percent; null without executions")
    errorRate = serializers.FloatField(allow_null=True, help_text="percent of errors and timeouts")
    averageResponseTime = serializers.FloatField(allow_null=True, help_text="milliseconds")
    p95ResponseTime = serializers.FloatField(allow_null=True, help_text="milliseconds, within 1%")
    averageCost = serializers.FloatField(allow_null=True)


class RollbackReasonOutput(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=[
            "not_same_template",
            "same_version",
            "never_deployed_here",
            "not_approved",
            "breaking_interface",
            "current_not_active",
        ]
    )
    field = serializers.CharField(help_text="the request's field it is about")
    message = serializers.CharField()


class InterfaceChangeOutput(serializers.Serializer):
    step = serializers.ChoiceField(
        choices=["major", "minor", "patch"], allow_null=True, help_text="the version step this change needs"
    )
    changes = VersionChangeOutput(many=True, help_text="each change from the current version to the target")
    breaking = serializers.ListField(
        child=serializers.CharField(),
        help_text="why callers of the current version would fail on the target (empty: they would not)",
    )


class RollbackImpactOutput(serializers.Serializer):
    current = VersionRefOutput(source="check.current")
    target = VersionRefOutput(source="check.target")
    environment = serializers.ChoiceField(source="check.environment", choices=Environment.choices)
    servingNow = VersionRefOutput(source="serving_now", allow_null=True, help_text="what the environment serves")
    rollsForward = serializers.BooleanField(source="rolls_forward", help_text="the target's number is higher")
    targetRolledBackHere = serializers.BooleanField(
        source="target_rolled_back_here", help_text="the target was rolled back in this environment before"
    )
    interface = InterfaceChangeOutput(source="check.interface", allow_null=True, help_text="null: another template")
    diff = VersionDiffOutput(
        allow_null=True, help_text="from the current version to the target; null: another template"
    )
    targetPerformance = PerformanceOutput(
        source="target_performance",
        allow_null=True,
        help_text="the target's own numbers from its times in this environment; null: another template",
    )


class RollbackValidationOutput(serializers.Serializer):
    valid = serializers.BooleanField(source="check.valid")
    reasons = RollbackReasonOutput(source="check.problems", many=True, help_text="why not (empty when valid)")
    impact = RollbackImpactOutput(source="*")


def validation_json(validation: RollbackValidation) -> dict[str, Any]:
    return RollbackValidationOutput(validation).data  # type: ignore[return-value]


class RollbackEndOutput(serializers.Serializer):
    deploymentId = serializers.UUIDField(allow_null=True)
    versionId = serializers.UUIDField()
    version = serializers.CharField()


class VerificationOutput(serializers.Serializer):
    checkedAt = serializers.DateTimeField(source="verified_at")
    activeVersionId = serializers.UUIDField(
        source="verified_version_id", allow_null=True, help_text="what render's lookup answered"
    )
    servesTarget = serializers.BooleanField(source="serves_target")


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": "what made a rule act (its breaching evaluations, the baseline), as the rule engine recorded "
        "it; empty for manual and emergency rollbacks",
    }
)
class EvidenceField(serializers.JSONField):
    pass


class RollbackOutput(serializers.Serializer):
    id = serializers.UUIDField()
    rollbackType = serializers.ChoiceField(source="type", choices=Rollback.Type.choices)
    status = serializers.ChoiceField(
        source="state", choices=Rollback.State.choices, help_text="pending, executing, then completed or failed"
    )
    templateId = serializers.UUIDField(source="template_id")
    templateName = serializers.CharField(source="template.name")
    environment = serializers.ChoiceField(choices=Environment.choices)
    to = serializers.SerializerMethodField(help_text="the version made active, and its deployment (none if it failed)")
    reason = serializers.CharField()
    initiatedBy = serializers.CharField(
        source="initiated_by_name", help_text="a username, or the rule that acted (system:rule:<id>)"
    )
    forced = serializers.BooleanField(help_text="a superuser rolled back past a breaking variable change")
    metrics = PerformanceOutput(help_text="the rolled-back version's numbers since it became active, at that moment")
    evidence = EvidenceField()
    requestedAt = serializers.DateTimeField(source="requested_at")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)
    failureReason = serializers.SerializerMethodField()
    verification = serializers.SerializerMethodField(
        help_text="the post-rollback check: what render's own lookup answered (null: not checked)"
    )

    @extend_schema_field(RollbackEndOutput(help_text="the version rolled back, and its deployment"))
    def get_from(self, rollback: Rollback) -> dict[str, Any]:
        return {
            "deploymentId": str(rollback.from_deployment_id),
            "versionId": str(rollback.from_version_id),
            "version": rollback.from_version.number,
        }

    @extend_schema_field(RollbackEndOutput())
    def get_to(self, rollback: Rollback) -> dict[str, Any]:
        deployment = rollback.to_deployment_id
        return {
            "deploymentId": str(deployment) if deployment is not None else None,
            "versionId": str(rollback.to_version_id),
            "version": rollback.to_version.number,
        }

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="why it failed (null unless failed)"))
    def get_failureReason(self, rollback: Rollback) -> str | None:
        return rollback.failure_reason or None

    @extend_schema_field(VerificationOutput(allow_null=True))
    def get_verification(self, rollback: Rollback) -> dict[str, Any] | None:
        return VerificationOutput(rollback).data if rollback.verified_at is not None else None  # type: ignore[return-value]


declare_field(RollbackOutput, "from", serializers.SerializerMethodField(method_name="get_from"))
# "from" before "to", as people read a move.
_fields = RollbackOutput._declared_fields
_order = [name for name in _fields if name != "from"]
_order.insert(_order.index("to"), "from")
RollbackOutput._declared_fields = {name: _fields[name] for name in _order}


class PromoteInput(serializers.Serializer):
    variantId = StrictCharField(min_length=1, max_length=100, help_text="the id of the variant to deploy")


class PromoteOutput(serializers.Serializer):
    test = serializers.SerializerMethodField(help_text="the test, completed with the variant as its winner")
    deployment = serializers.SerializerMethodField(help_text="the variant's version, now active in the environment")

    @extend_schema_field(ABTestOutput)
    def get_test(self, promoted: Any) -> dict[str, Any]:
        return dict(ABTestOutput(promoted[0]).data)

    @extend_schema_field(DeploymentOutput)
    def get_deployment(self, promoted: Any) -> dict[str, Any]:
        return dict(DeploymentOutput(promoted[1]).data)
