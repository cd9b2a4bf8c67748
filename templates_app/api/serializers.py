"""The JSON of templates and versions (camelCase keys, as API.md).

Input serializers check the shape and types of a body; the rules (placeholders, variable schemas,
semantic versions) are checked once, in templates_app.services and the modules it calls.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from promptrender.definitions import MAX_MESSAGES, MAX_PROVIDER_LENGTH, MAX_TEXT_LENGTH
from promptrender.placeholders import NAME_PATTERN
from promptrender.variables import MAX_PATTERN_LENGTH, MAX_VARIABLES, TYPES
from rest_framework import serializers

from lifecycle.core.api.inputs import EnvironmentField, StrictBooleanField, StrictCharField, StrictUUIDField
from lifecycle.core.api.outputs import UsernameField
from lifecycle.core.api.schema import declare_field
from templates_app.metadata import MAX_METADATA_CHARS, MAX_TAG_LENGTH, MAX_TAGS
from templates_app.models import Category, PromptTemplate, TemplateVersion
from templates_app.selectors import included_part, includes_of
from templates_app.semver import Bump


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": "free-form: the keys of MetadataDoc have their meaning, others are kept as given",
    }
)
class MetadataObjectField(serializers.JSONField):
    pass


@extend_schema_field({"description": "any JSON value"})
class AnyValueField(serializers.JSONField):
    pass


# -- documentation of the JSON-typed fields (the checks themselves are in promptrender.definitions) --
class VariableDoc(serializers.Serializer):
    name = serializers.RegexField(
        regex=rf"^{NAME_PATTERN}$", help_text="letters, digits and _, not starting with a digit; unique in the version"
    )
    type = serializers.ChoiceField(choices=TYPES, default="string")
    required = StrictBooleanField(default=True)  # type: ignore[assignment]  # the API's key
    description = StrictCharField(required=False, max_length=2000)
    default = AnyValueField(required=False, help_text="only for optional variables; must obey the rules below")
    enum = serializers.ListField(child=AnyValueField(), required=False, help_text="the only values allowed")
    pattern = StrictCharField(
        required=False,
        min_length=1,
        max_length=MAX_PATTERN_LENGTH,
        help_text="a regular expression, matched anywhere unless anchored; for strings",
    )
    minLength = serializers.IntegerField(required=False, min_value=0, help_text="for strings and arrays")
    maxLength = serializers.IntegerField(required=False, min_value=0, help_text="at least minLength")
    minimum = serializers.FloatField(required=False, help_text="for numbers and integers")
    maximum = serializers.FloatField(required=False, help_text="at least minimum")


class MessageDoc(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = StrictCharField(max_length=MAX_TEXT_LENGTH, help_text="may hold {{placeholders}}")


class ModelConfigDoc(serializers.Serializer):
    """The settings checked (null: not set); any other key is kept as given (providers have settings of
    their own)."""

    model = StrictCharField(required=False, allow_null=True, min_length=1, max_length=200)
    temperature = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=2)
    maxTokens = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    topP = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    topK = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    frequencyPenalty = serializers.FloatField(required=False, allow_null=True, min_value=-2, max_value=2)
    presencePenalty = serializers.FloatField(required=False, allow_null=True, min_value=-2, max_value=2)
    stop = serializers.ListField(child=StrictCharField(allow_blank=True), required=False, allow_null=True)


class MetadataDoc(serializers.Serializer):
    """These keys mean what they say (null: not given); other keys are kept as given. At most
    MAX_METADATA_CHARS characters in all (as written back)."""

    author = StrictCharField(required=False, allow_blank=True)
    version = StrictCharField(required=False, allow_null=True, help_text="the version number to give, e.g. 1.0.0")
    changelog = StrictCharField(required=False, allow_blank=True)
    estimatedTokens = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    complexity = serializers.ChoiceField(choices=["low", "medium", "high"], required=False, allow_null=True)
    usageContext = serializers.ListField(child=StrictCharField(allow_blank=True), required=False, allow_null=True)


@extend_schema_field(
    {
        "type": "string",
        "nullable": True,
        "maxLength": MAX_TEXT_LENGTH,
        "description": "text with {{placeholders}} naming declared variables (or give `messages`, not both)",
    }
)
class ContentField(serializers.JSONField):
    pass


@extend_schema_field(
    serializers.ListField(
        child=MessageDoc(), allow_null=True, help_text=f"a chat prompt (or `content`): at most {MAX_MESSAGES} messages"
    )
)
class MessagesField(serializers.JSONField):
    pass


@extend_schema_field(serializers.ListField(child=VariableDoc(), help_text=f"at most {MAX_VARIABLES} variables"))
class VariablesField(serializers.JSONField):
    pass


@extend_schema_field(ModelConfigDoc)
class ModelConfigField(serializers.JSONField):
    pass


@extend_schema_field({"type": "string", "nullable": True, "maxLength": MAX_PROVIDER_LENGTH})
class ProviderField(serializers.JSONField):
    pass


@extend_schema_field(MetadataDoc)
class MetadataField(serializers.DictField):
    pass


class DefinitionInput(serializers.Serializer):
    """The renderable part of a version; each field is checked by promptrender.definitions."""

    content = ContentField(required=False, allow_null=True)
    messages = MessagesField(required=False, allow_null=True)
    variables = VariablesField(required=False, allow_null=True)
    modelConfig = ModelConfigField(required=False, allow_null=True)
    provider = ProviderField(required=False, allow_null=True)

    @staticmethod
    def fields_of(data: dict[str, Any]) -> dict[str, Any]:
        return {
            key: data[key] for key in ("content", "messages", "variables", "modelConfig", "provider") if key in data
        }


class TemplateCreateInput(DefinitionInput):
    name = StrictCharField(max_length=200)
    description = StrictCharField(required=False, allow_blank=True, default="")
    category = serializers.ChoiceField(choices=Category.choices, default=Category.OTHER)
    tags = serializers.ListField(
        child=StrictCharField(max_length=MAX_TAG_LENGTH),
        max_length=MAX_TAGS,
        required=False,
        default=list,
        help_text="distinct once trimmed",
    )
    metadata = MetadataField(
        required=False, default=dict, help_text=f"at most {MAX_METADATA_CHARS:,} characters; `version` numbers 1.0.0"
    )
    environment = EnvironmentField(
        required=False, help_text="where unpinned `{{> part}}` references take their part (default production)"
    )


class VersionDataInput(DefinitionInput):
    metadata = MetadataField(required=False, default=dict)
    environment = EnvironmentField(
        required=False,
        help_text="where unpinned `{{> part}}` references take their part: the version active there (default: "
        "where the latest version took its parts, else production). Every new version starts active in "
        "development whatever this says",
    )
    bump = serializers.ChoiceField(
        choices=[bump.label for bump in Bump], required=False, help_text="ask for a bigger step than computed"
    )


class VersionCreateInput(serializers.Serializer):
    templateId = StrictUUIDField()
    data = VersionDataInput(  # type: ignore[assignment]  # the API's key (DRF keeps .data working)
        required=False, help_text="required, unless refreshIncludes is true (then it may change the text too)"
    )
    refreshIncludes = StrictBooleanField(
        required=False,
        default=False,
        help_text="make the next version from the latest one's text, with every included part at its available "
        "update (GET /api/templates/{id} lists them as updatesAvailable)",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "data" not in attrs and not attrs["refreshIncludes"]:
            raise serializers.ValidationError({"data": ["This field is required."]})
        return attrs


# -- output --


class VersionChangeOutput(serializers.Serializer):
    level = serializers.ChoiceField(choices=[bump.label for bump in Bump], help_text="the version step it needs")
    change = serializers.CharField(help_text="what changed, in words")


class VersionSummaryOutput(serializers.Serializer):
    id = serializers.UUIDField()
    version = serializers.CharField(source="number")
    changelog = serializers.SerializerMethodField()
    createdBy = UsernameField(source="created_by")
    createdAt = serializers.DateTimeField(source="created_at")

    def get_changelog(self, version: TemplateVersion) -> str | None:
        return version.metadata.get("changelog")


class PartChangeOutput(serializers.Serializer):
    templateId = serializers.UUIDField()
    name = serializers.CharField(help_text="the included template's name")
    fromVersionId = serializers.UUIDField(allow_null=True)
    toVersionId = serializers.UUIDField(allow_null=True)
    to = serializers.CharField(allow_null=True, help_text="the version included now (null: no longer included)")


declare_field(PartChangeOutput, "from", serializers.CharField(allow_null=True, help_text="the version included before"))


class IncludedPartOutput(serializers.Serializer):
    reference = serializers.CharField(help_text="as written: house-style@2.1.0, or house-style")
    where = serializers.CharField(help_text="content, or messages[i].content")
    templateId = serializers.UUIDField()
    name = serializers.CharField(help_text="the included template's name, as the reference names it")
    versionId = serializers.UUIDField(help_text="the part's exact version, resolved when this version was created")
    version = serializers.CharField()
    fingerprint = serializers.CharField(help_text="the part's content hash (sha256 of its definition)")


class VersionSourceOutput(serializers.Serializer):
    content = ContentField(required=False, help_text="the text with its `{{> part}}` references")
    messages = MessagesField(required=False)
    variables = VariablesField(help_text="the variables the author declared (parts add theirs)")
    environment = serializers.CharField(help_text="where unpinned references took their part")


class VersionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    templateId = serializers.UUIDField(source="template_id")
    version = serializers.CharField(source="number")
    content = ContentField()
    messages = MessagesField()
    variables = VariablesField()
    modelConfig = ModelConfigField(source="model_config")
    provider = serializers.CharField()
    metadata = MetadataObjectField(help_text="author, changelog, estimatedTokens, complexity, ... as given")
    changes = VersionChangeOutput(
        source="change_summary", many=True, help_text="what changed from the version before, and the step each needs"
    )
    source = VersionSourceOutput(  # type: ignore[assignment]  # the API's key (DRF keeps .source working)
        allow_null=True,
        help_text="what the author wrote, when it includes other templates (content or messages above are "
        "flattened: what it serves); null when it includes none",
    )
    includes = serializers.SerializerMethodField()
    createdBy = UsernameField(source="created_by")
    createdAt = serializers.DateTimeField(source="created_at")

    @extend_schema_field(IncludedPartOutput(many=True))
    def get_includes(self, version: TemplateVersion) -> list[dict[str, str]]:
        if version.source is None:
            return []
        return [included_part(include).to_json() for include in includes_of(version.pk)]


class LatestVersionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    version = serializers.CharField(source="number")


class TemplateOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField()
    tags = serializers.SerializerMethodField()
    provider = serializers.CharField(source="latest_version.provider")
    metadata = MetadataObjectField()
    latestVersion = LatestVersionOutput(source="latest_version")
    createdBy = UsernameField(source="created_by")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    def get_tags(self, template: PromptTemplate) -> list[str]:
        return [tag.name for tag in template.tags.all()]  # prefetched by templates_for_listing


class MaintainersInput(serializers.Serializer):
    users = serializers.ListField(
        child=StrictCharField(max_length=150), max_length=200, help_text="usernames of active users"
    )
    groups = serializers.ListField(
        child=StrictCharField(max_length=150), max_length=200, default=list, help_text="group names"
    )


class MaintainersOutput(serializers.Serializer):
    users = serializers.ListField(child=serializers.CharField(), help_text="usernames")
    groups = serializers.ListField(child=serializers.CharField(), help_text="group names: every member maintains it")


def maintainers_json(template: PromptTemplate) -> dict[str, list[str]]:
    return {
        "users": sorted(user.get_username() for user in template.maintainers.all()),
        "groups": sorted(group.name for group in template.maintainer_groups.all()),
    }


class TemplateContentOutput(TemplateOutput):
    """A template with its latest version's content and the summary of every version (newest first, in
    the context's `versions`)."""

    content = ContentField(source="latest_version.content")
    messages = MessagesField(source="latest_version.messages")
    variables = VariablesField(source="latest_version.variables")
    modelConfig = ModelConfigField(source="latest_version.model_config")
    versions = serializers.SerializerMethodField()
    maintainers = serializers.SerializerMethodField()

    @extend_schema_field(MaintainersOutput)
    def get_maintainers(self, template: PromptTemplate) -> dict[str, list[str]]:
        return maintainers_json(template)

    @extend_schema_field(VersionSummaryOutput(many=True))
    def get_versions(self, template: PromptTemplate) -> list[dict[str, Any]]:
        return VersionSummaryOutput(self.context["versions"], many=True).data  # type: ignore[return-value]


class ValueChangeOutput(serializers.Serializer):
    to = AnyValueField(help_text="after")


declare_field(ValueChangeOutput, "from", AnyValueField(help_text="before"))


class VariableFieldChangeOutput(serializers.Serializer):
    name = serializers.CharField()


declare_field(
    VariableFieldChangeOutput,
    "fields",
    serializers.DictField(child=ValueChangeOutput(), help_text="each changed rule, by name: before and after"),
)


class VariableChangesOutput(serializers.Serializer):
    added = VariableDoc(many=True)
    removed = VariableDoc(many=True)
    changed = VariableFieldChangeOutput(many=True)


class VersionDiffOutput(serializers.Serializer):
    versionId = serializers.UUIDField(source="version.pk")
    version = serializers.CharField(source="version.number")
    againstVersionId = serializers.UUIDField(source="against.pk", allow_null=True)
    againstVersion = serializers.CharField(source="against.number", allow_null=True)
    diff = serializers.CharField(source="unified_diff", help_text="unified diff of the content (or chat messages)")
    variables = VariableChangesOutput()
    modelConfig = ValueChangeOutput(source="model_config", allow_null=True, help_text="null: unchanged")
    provider = ValueChangeOutput(allow_null=True, help_text="null: unchanged")
    changes = VersionChangeOutput(many=True, help_text="each change with the version step it needs")
    parts = PartChangeOutput(
        many=True,
        help_text="included templates that changed version (added: from null; no longer included: to null); "
        "`diff` shows the flattened text they make",
    )
