"""Every write to templates and versions. The API, the admin and tasks all come through here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone
from promptrender.definitions import DefinitionInvalid, VersionDefinition
from promptrender.names import name_key

from lifecycle.core.exceptions import InvalidInput
from lifecycle.core.roles import Role, User, require_role
from lifecycle.core.webhooks.services import publish
from templates_app.composition import PINNED_ONLY, Composition, PartLookup, compose, save_includes, source_fields
from templates_app.exceptions import DuplicateTemplateName, IdenticalVersion, TemplateNotFound
from templates_app.metadata import check_metadata, normalize_tags
from templates_app.models import Category, PromptTemplate, Tag, TemplateVersion, template_history
from templates_app.permissions import require_may_change, require_may_set_maintainers
from templates_app.selectors import parts_of, template_name_taken
from templates_app.semver import FIRST_VERSION, Bump, Change, SemVer, classify_change

# The version's own metadata: what the original system keeps per version.
_VERSION_METADATA_KEYS = ("author", "changelog", "estimatedTokens", "complexity")


def _check_category(category: str) -> str:
    if category not in Category.values:
        raise InvalidInput.at("category", f"must be one of {', '.join(Category.values)}")
    return category


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        raise InvalidInput.at("name", "must be a non-empty string of at most 200 characters")
    return name.strip()


def _requested_version(metadata: dict[str, Any]) -> SemVer | None:
    if metadata.get("version") is None:
        return None
    try:
        return SemVer.parse(metadata["version"])
    except ValueError as exc:
        raise InvalidInput.at("metadata.version", str(exc)) from None


def parse_definition(fields: Mapping[str, Any]) -> VersionDefinition:
    """A version definition from raw JSON fields, or InvalidInput naming every problem."""
    try:
        return VersionDefinition.parse(fields)
    except DefinitionInvalid as exc:
        raise InvalidInput.of(exc.problems) from None


def _tags_named(names: Sequence[str]) -> list[Tag]:
    # ignore_conflicts: two authors tagging at the same moment must not fail on the unique name.
    Tag.objects.bulk_create([Tag(name=name) for name in names], ignore_conflicts=True)
    return list(Tag.objects.filter(name__in=names))


@dataclass(frozen=True)
class Maintainers:
    """Who maintains a template: users, and groups whose every member does."""

    users: list[User]
    groups: list[Group]


def _save_template(
    template: PromptTemplate,
    *,
    tags: Sequence[str] | None,
    actor: User,
    created: bool,
    maintainers: Maintainers | None = None,
) -> None:
    """Save the template, its tags and maintainers as one audit record (saving them apart would record
    several changes)."""
    template.name_key = name_key(template.name)
    template.skip_history_when_saving = True  # type: ignore[attr-defined]
    try:
        with transaction.atomic():  # a savepoint: PostgreSQL can go on after the unique name is refused
            template.save()
    except IntegrityError:
        # The unique name key decides who gets a name when two authors race for it; any other
        # integrity error is a bug, not a duplicate.
        if not template_name_taken(template.name, other_than=template.pk):
            raise
        raise DuplicateTemplateName(f"A template named '{template.name}' already exists.") from None
    finally:
        del template.skip_history_when_saving  # type: ignore[attr-defined]
    if tags is not None or maintainers is not None:
        template.skip_history_when_saving = True  # type: ignore[attr-defined]
        if tags is not None:
            template.tags.set(_tags_named(tags))
        if maintainers is not None:
            template.maintainers.set(maintainers.users)
            template.maintainer_groups.set(maintainers.groups)
        del template.skip_history_when_saving  # type: ignore[attr-defined]
    template._history_user = actor  # type: ignore[attr-defined]
    template_history.create_historical_record(template, "+" if created else "~")


@transaction.atomic
def create_template(
    *,
    actor: User,
    name: str,
    definition: Mapping[str, Any],
    description: str = "",
    category: str = Category.OTHER,
    tags: Sequence[str] | None = None,
    metadata: dict[str, Any] | None = None,
    parts: PartLookup = PINNED_ONLY,
) -> PromptTemplate:
    """Create a template with its first version (`1.0.0`, or `metadata.version`).

    A new template's first version is active in development at once: lifecycle.releases composes that
    (create_template_live_in_development); this function knows nothing of deployments.

    `definition` holds the version's raw JSON fields: `content` or `messages`, `variables`, `modelConfig`,
    `provider`; its text may include other templates (templates_app.composition; `parts` finds unpinned ones).
    """
    require_role(actor, Role.AUTHOR, to="create templates")
    planned = plan_new_template(
        name=name, definition=definition, category=category, tags=tags, metadata=metadata, parts=parts
    )
    template = PromptTemplate(
        name=planned.name,
        description=description,
        category=planned.category,
        metadata=planned.template_metadata,
        created_by=actor,
    )
    # Its creator maintains it at first; maintainers add others (set_maintainers).
    _save_template(template, tags=planned.tags, actor=actor, created=True, maintainers=Maintainers([actor], []))
    _add_version(
        template,
        planned.definition,
        number=planned.number,
        metadata=planned.version_metadata,
        change_summary=[],
        actor=actor,
        composition=planned.composition,
    )
    return template


@dataclass(frozen=True)
class NewTemplate:
    """What create_template would create, checked."""

    name: str
    category: str
    tags: list[str]
    template_metadata: dict[str, Any]
    definition: VersionDefinition
    number: SemVer
    version_metadata: dict[str, Any]
    composition: Composition


def plan_new_template(
    *,
    name: str,
    definition: Mapping[str, Any],
    category: str = Category.OTHER,
    tags: Sequence[str] | None = None,
    metadata: dict[str, Any] | None = None,
    parts: PartLookup = PINNED_ONLY,
) -> NewTemplate:
    """Check a new template without writing anything (the admin shows the problems on its form).

    A duplicate name is only found on writing: the unique constraint decides, so that two authors
    racing for one name cannot both get it.
    """
    composition = compose(definition, template_id=None, parts=parts)
    parsed = parse_definition(composition.fields)
    metadata = check_metadata(metadata)
    return NewTemplate(
        name=_check_name(name),
        category=_check_category(category),
        tags=normalize_tags(tags),
        template_metadata={key: value for key, value in metadata.items() if key != "version"},
        definition=parsed,
        number=_requested_version(metadata) or FIRST_VERSION,
        version_metadata={key: metadata[key] for key in _VERSION_METADATA_KEYS if key in metadata},
        composition=composition,
    )


@transaction.atomic
def update_template(
    *,
    actor: User,
    template_id: UUID,
    name: str | None = None,
    description: str | None = None,
    category: str | None = None,
    tags: Sequence[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> PromptTemplate:
    """Change a template's descriptive fields (its text changes only by new versions)."""
    template = lock_template(template_id)
    require_may_change(actor, template, to="edit this template")
    if name is not None:
        template.name = _check_name(name)
    if description is not None:
        template.description = description
    if category is not None:
        template.category = _check_category(category)
    if metadata is not None:
        template.metadata = check_metadata(metadata)
    _save_template(template, tags=normalize_tags(tags) if tags is not None else None, actor=actor, created=False)
    return template


@transaction.atomic
def create_version(
    *,
    actor: User,
    template_id: UUID,
    definition: Mapping[str, Any],
    metadata: dict[str, Any] | None = None,
    bump: Bump | None = None,
    parts: PartLookup = PINNED_ONLY,
    refresh_includes: bool = False,
) -> TemplateVersion:
    """Add the next version of a template, numbered from what changed since the latest one (active in
    development at once through lifecycle.releases.services.create_version_live_in_development).

    `definition` holds raw JSON fields like create_template's; `variables`, `modelConfig` and `provider`
    left out (or null) are carried over from the latest version, so an author may send only new text.
    `bump` may ask for a bigger step than the change needs, never a smaller one; `metadata.version` may
    name the number outright if it is at least the number the change needs.

    The text may include other templates (templates_app.composition): `parts` says where unpinned
    references find theirs. `refresh_includes` starts from the latest version's text as its author wrote
    it (unless new text is given) with every part at its available update.
    """
    # Lock the template: two versions created at once must get distinct numbers, each computed from the
    # other (the unique constraint on the number is the backstop). The latest version is read in a query
    # of its own, after the lock: joined to the locking query, PostgreSQL would join the row the waiting
    # transaction saw before the lock was released, not the version the other one just created.
    template = lock_template(template_id)
    require_may_change(actor, template, to="create versions of this template")
    assert template.latest_version_id is not None  # every template is created with its first version
    latest = TemplateVersion.objects.get(pk=template.latest_version_id)
    planned = plan_next_version(
        latest, definition=definition, metadata=metadata, bump=bump, parts=parts, refresh_includes=refresh_includes
    )
    return _add_version(
        template,
        planned.definition,
        number=planned.number,
        metadata=planned.metadata,
        change_summary=planned.change.summary(),
        actor=actor,
        composition=planned.composition,
    )


@dataclass(frozen=True)
class NextVersion:
    """What create_version would create after `latest`: its definition, number and why that number."""

    definition: VersionDefinition
    number: SemVer
    change: Change
    metadata: dict[str, Any]
    composition: Composition


def plan_next_version(
    latest: TemplateVersion,
    *,
    definition: Mapping[str, Any],
    metadata: dict[str, Any] | None = None,
    bump: Bump | None = None,
    parts: PartLookup = PINNED_ONLY,
    refresh_includes: bool = False,
) -> NextVersion:
    """Check a new version against the latest one and number it, without writing anything.

    create_version calls it under the template's lock; the admin calls it to show problems on the form.
    """
    metadata = check_metadata(metadata)
    given = _given(definition)
    carried = _carried_over(latest)
    known_parts = None
    if refresh_includes and "content" not in given and "messages" not in given:
        carried.update({key: value for key, value in source_fields(latest).items() if key != "variables"})
        known_parts = parts_of(latest.pk)
    composition = compose(
        {**carried, **given},
        template_id=latest.template_id,
        parts=parts,
        refresh=refresh_includes,
        previous_environment=(latest.source or {}).get("environment"),
        known_parts=known_parts,
    )
    parsed = parse_definition(composition.fields)
    if latest.fingerprint == parsed.fingerprint:
        if refresh_includes and latest.source is None and "content" not in given and "messages" not in given:
            raise IdenticalVersion(f"Version {latest.number} includes no other template: nothing to refresh.")
        if refresh_includes:
            raise IdenticalVersion(
                f"Every part of {latest.number} is already at its available version: nothing to refresh."
            )
        raise IdenticalVersion(f"This is identical to the latest version, {latest.number}: nothing to create.")
    change = classify_change(latest.definition(), parsed)
    assert change.bump is not None  # equal fingerprints were refused above
    if bump is not None and bump < change.bump:
        why = "; ".join(change.reasons_for(change.bump))
        raise InvalidInput.at("bump", f"this change needs at least a {change.bump.label} version ({why})")
    number = latest.semver.bumped(max(change.bump, bump or Bump.PATCH))
    requested = _requested_version(metadata)
    if requested is not None:
        if requested < number:
            raise InvalidInput.at("metadata.version", f"must be {number} or later: the change needs that step")
        number = requested
    version_metadata = {key: value for key, value in metadata.items() if key != "version"}
    return NextVersion(
        definition=parsed, number=number, change=change, metadata=version_metadata, composition=composition
    )


@transaction.atomic
def set_maintainers(
    *, actor: User, template_id: UUID, usernames: Sequence[str], group_names: Sequence[str]
) -> Maintainers:
    """Replace who maintains the template: by its maintainers or a superuser. At least one user or group
    stays, so that someone besides the superusers can look after it."""
    template = lock_template(template_id)
    require_may_set_maintainers(actor, template)
    maintainers = Maintainers(
        users=_named(User.objects.filter(username__in=usernames, is_active=True), "username", usernames, "users"),
        groups=_named(Group.objects.filter(name__in=group_names), "name", group_names, "groups"),
    )
    if not maintainers.users and not maintainers.groups:
        raise InvalidInput.at("users", "a template keeps at least one maintainer (a user or a group)")
    _save_template(template, tags=None, actor=actor, created=False, maintainers=maintainers)
    return maintainers


def _named(found: Any, key: str, names: Sequence[str], path: str) -> list[Any]:
    by_name = {getattr(item, key): item for item in found}
    unknown = [name for name in dict.fromkeys(names) if name not in by_name]
    if unknown:
        kind = "active user" if path == "users" else "group"
        raise InvalidInput.at(path, f"no {kind} named {', '.join(repr(name) for name in unknown)}")
    return [by_name[name] for name in dict.fromkeys(names)]


def _given(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _carried_over(latest: TemplateVersion) -> dict[str, Any]:
    # The author's own variables: those its parts declared join again from the parts now included.
    own = source_fields(latest)["variables"]
    return {"variables": own, "modelConfig": latest.model_config, "provider": latest.provider}


def _add_version(
    template: PromptTemplate,
    definition: VersionDefinition,
    *,
    number: SemVer,
    metadata: dict[str, Any],
    change_summary: list[dict[str, str]],
    actor: User,
    composition: Composition,
) -> TemplateVersion:
    version = TemplateVersion(
        template=template,
        major=number.major,
        minor=number.minor,
        patch=number.patch,
        content=definition.content,
        messages=definition.messages_json(),
        variables=definition.variables_json(),
        model_config=definition.model_config,
        provider=definition.provider,
        metadata=metadata,
        fingerprint=definition.fingerprint,
        change_summary=change_summary,
        source=composition.source,
        created_by=actor,
    )
    version._history_user = actor  # type: ignore[attr-defined]
    version.save()
    save_includes(version, composition)
    # Not a history-worthy change of the template itself: the version has its own audit record.
    PromptTemplate.objects.filter(pk=template.pk).update(latest_version=version, updated_at=timezone.now())
    template.latest_version = version
    publish(
        event="version.created",
        actor=actor,
        template_id=template.pk,
        data={"template": {"id": template.pk, "name": template.name}, "version": version_json(version)},
    )
    return version


def lock_template(template_id: UUID) -> PromptTemplate:
    """The template's row, locked until the surrounding transaction ends; TemplateNotFound if none.

    Anything that changes what a template serves (versions, deployments) takes this lock first, so that
    changes to one template happen one at a time and always in the same lock order.
    """
    template = PromptTemplate.objects.select_for_update().filter(pk=template_id).first()
    if template is None:
        raise TemplateNotFound()
    return template


def version_json(version: TemplateVersion) -> dict[str, Any]:
    """A version as event payloads name it."""
    return {"id": version.pk, "number": version.number}
