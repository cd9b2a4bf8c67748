from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from promptrender.definitions import VersionDefinition
from simple_history.models import HistoricalRecords

from lifecycle.core.db.encrypted import EncryptedJSONField, EncryptedTextField
from templates_app.semver import SemVer


class Category(models.TextChoices):
    ANALYSIS = "analysis"
    GENERATION = "generation"
    CLASSIFICATION = "classification"
    EXTRACTION = "extraction"
    SUMMARIZATION = "summarization"
    TRANSLATION = "translation"
    OTHER = "other"


class Tag(models.Model):
    """A label authors put on templates so that others can find them (`?tag=`)."""

    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# Kept by name so that services can write one audit record for a template and its tags together.
template_history = HistoricalRecords(
    excluded_fields=["latest_version", "name_key"], m2m_fields=["tags", "maintainers", "maintainer_groups"]
)


class PromptTemplate(models.Model):
    """A named prompt that integrations render; what it says lives in its immutable versions."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    # The name case-folded (Python's str.casefold): unique, so that "École" and "école" are one name on
    # every database. SQLite's lower() folds only ASCII letters, so a constraint on Lower(name) would not do.
    name_key = models.CharField(max_length=400, unique=True, editable=False)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.OTHER)
    tags = models.ManyToManyField(Tag, blank=True, related_name="templates")
    # Who looks after it (templates_app.permissions): its creator at first; users, or every member of a group.
    maintainers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="maintained_templates")
    maintainer_groups = models.ManyToManyField("auth.Group", blank=True, related_name="maintained_templates")
    metadata = models.JSONField(default=dict, blank=True)
    # The newest version, kept here so that numbering the next one and listing templates is one row away.
    latest_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, editable=False, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = template_history

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImmutableVersion(Exception):
    """Versions are never changed or deleted once created: make a new version instead."""


class TemplateVersion(models.Model):
    """One immutable state of a template: its text or chat messages, variables and model settings."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template = models.ForeignKey(PromptTemplate, on_delete=models.PROTECT, related_name="versions")
    major = models.PositiveIntegerField()
    minor = models.PositiveIntegerField()
    patch = models.PositiveIntegerField()
    # The prompt's text: encrypted at rest with TEMPLATE_CONTENT_ENCRYPTION (as `source`, and in the history).
    content = EncryptedTextField(null=True, blank=True, encrypt_setting="TEMPLATE_CONTENT_ENCRYPTION")
    messages = EncryptedJSONField(null=True, blank=True, encrypt_setting="TEMPLATE_CONTENT_ENCRYPTION")
    variables = models.JSONField(default=list, blank=True)
    model_config = models.JSONField(default=dict, blank=True)
    provider = models.CharField(max_length=50, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # sha256 of the canonical definition: equal fingerprints mean the versions say the same thing.
    fingerprint = models.CharField(max_length=64)
    # What changed from the previous version, and so why it got its number ([{level, change}]).
    change_summary = models.JSONField(default=list, blank=True)
    # What the author wrote when it includes other templates (templates_app.composition):
    # {"content" | "messages", "variables": the author's own, "environment": where unpinned parts were
    # looked up}. Null when `content` or `messages` is the author's text as written. The version serves
    # `content`/`messages`, flattened at creation, so rendering a composed prompt costs what any other costs.
    source = EncryptedJSONField(null=True, blank=True, encrypt_setting="TEMPLATE_CONTENT_ENCRYPTION")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["template", "-major", "-minor", "-patch"]
        constraints = [
            models.UniqueConstraint(fields=["template", "major", "minor", "patch"], name="version_number_unique"),
            models.CheckConstraint(
                condition=models.Q(content__isnull=False, messages__isnull=True)
                | models.Q(content__isnull=True, messages__isnull=False),
                name="version_has_content_or_messages",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template.name} {self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableVersion("A version cannot be changed; create a new version instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableVersion("A version cannot be deleted.")

    @property
    def semver(self) -> SemVer:
        return SemVer(self.major, self.minor, self.patch)

    @property
    def number(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def definition(self) -> VersionDefinition:
        """The stored definition (checked when the version was created)."""
        return VersionDefinition.stored(
            content=self.content,
            messages=self.messages,
            variables=self.variables,
            model_config=self.model_config,
            provider=self.provider,
        )


class VersionInclude(models.Model):
    """One `{{> part}}` of a version, resolved when the version was created to an exact version of the part.

    Written once with its version and never changed (a version's parts are part of what it says).
    """

    version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="includes")
    position = models.PositiveSmallIntegerField()  # the reference's order among the version's references
    where = models.CharField(max_length=40)  # "content", or "messages[2].content"
    line = models.PositiveIntegerField()
    column = models.PositiveIntegerField()
    reference = models.CharField(max_length=250)  # as the author wrote it: "house-style@2.1.0" or "house-style"
    pinned = models.BooleanField()  # written with a version number
    # Unpinned: the environment whose active version of the part was taken.
    environment = models.CharField(max_length=20, blank=True)
    part = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="included_by")
    # The part's template, kept here so that "who includes this template" is one indexed lookup.
    part_template = models.ForeignKey(PromptTemplate, on_delete=models.PROTECT, related_name="+")
    part_fingerprint = models.CharField(max_length=64)  # the part's content hash, as the issue asks

    class Meta:
        ordering = ["version", "position"]
        constraints = [models.UniqueConstraint(fields=["version", "position"], name="version_include_position")]
        indexes = [models.Index(fields=["part_template", "version"], name="include_part_template")]

    def __str__(self) -> str:
        return f"{{{{> {self.reference}}}}}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableVersion("A version's parts cannot be changed; create a new version instead.")
        super().save(*args, **kwargs)
