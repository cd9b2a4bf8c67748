"""Reads of templates and versions, for the API, the admin and the layers above."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from itertools import zip_longest
from typing import Any
from uuid import UUID

from cachetools import LRUCache, cached
from django.conf import settings
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from promptrender.names import name_key
from promptrender.rendering import IncludedPart, RenderPlan

from lifecycle.core.audit import AuditEntry, entries_from_history
from lifecycle.core.roles import User
from templates_app.exceptions import TemplateNotFound, VersionNotFound
from templates_app.models import PromptTemplate, Tag, TemplateVersion, VersionInclude


def templates_for_listing() -> QuerySet[PromptTemplate]:
    """Templates with what a list shows of them, in a fixed number of queries however many there are."""
    return PromptTemplate.objects.select_related("latest_version", "created_by").prefetch_related("tags")


def template_name_taken(name: str, *, other_than: UUID | None = None) -> bool:
    """Whether another template (than `other_than`) has this name, ignoring case."""
    same_name = PromptTemplate.objects.filter(name_key=name_key(name))
    if other_than is not None:
        same_name = same_name.exclude(pk=other_than)
    return same_name.exists()


def template_by_id(template_id: UUID) -> PromptTemplate:
    template = templates_for_listing().filter(pk=template_id).first()
    if template is None:
        raise TemplateNotFound()
    return template


def template_row(template_id: UUID) -> PromptTemplate:
    """The template's own row, without its tags (one query): for reads that only need its id and author."""
    template = PromptTemplate.objects.filter(pk=template_id).first()
    if template is None:
        raise TemplateNotFound()
    return template


def version_by_id(version_id: UUID) -> TemplateVersion:
    version = TemplateVersion.objects.select_related("template", "created_by").filter(pk=version_id).first()
    if version is None:
        raise VersionNotFound()
    return version


def versions_of(template_id: UUID) -> QuerySet[TemplateVersion]:
    """Newest first."""
    return TemplateVersion.objects.filter(template_id=template_id).select_related("created_by")


def version_before(version: TemplateVersion) -> TemplateVersion | None:
    """The version numbered just below this one, if any."""
    return (
        versions_of(version.template_id)
        .filter(major__lte=version.major)
        .exclude(major=version.major, minor__gt=version.minor)
        .exclude(major=version.major, minor=version.minor, patch__gte=version.patch)
        .first()
    )


# Compiled versions kept in memory, weighed by their text, so that a process holds at most about
# RENDER_CACHE_CHARACTERS characters of prompts however many (or however large) versions it renders.
_plans: LRUCache[Any, RenderPlan] = LRUCache(maxsize=settings.RENDER_CACHE_CHARACTERS, getsizeof=lambda p: p.size)


@cached(_plans, lock=threading.Lock())
def render_plan(version_id: UUID) -> RenderPlan:
    """The compiled version, from memory after its first use.

    Versions are immutable, so a compiled one never goes stale: this cache needs no invalidation and is
    correct in every process. (Which version is active where is *not* cached; see lifecycle.releases.)
    A version too large for the cache is compiled again on each use.
    """
    version = TemplateVersion.objects.filter(pk=version_id).first()
    if version is None:
        raise VersionNotFound()
    return RenderPlan.compile(
        version_id=version.pk,
        template_id=version.template_id,
        version=version.number,
        definition=version.definition(),
        includes=tuple(included_part(include) for include in includes_of(version.pk)) if version.source else (),
    )


def includes_of(version_id: UUID) -> QuerySet[VersionInclude]:
    """The version's `{{> part}}` references as resolved at its creation, in the order they are written."""
    return (
        VersionInclude.objects.filter(version_id=version_id)
        .select_related("part", "part_template")
        .order_by("position")
    )


def parts_of(version_id: UUID) -> list[UUID]:
    """The template each of the version's references resolved to, in the order they are written."""
    return list(
        VersionInclude.objects.filter(version_id=version_id)
        .order_by("position")
        .values_list("part_template_id", flat=True)
    )


def included_part(include: VersionInclude) -> IncludedPart:
    # The name as the reference has it, not the template's name now: a compiled version (which lists its
    # parts) is cached for good, and a template may be renamed.
    name = include.reference.rpartition("@")[0] if include.pinned else include.reference
    return IncludedPart(
        reference=include.reference,
        where=include.where,
        template_id=include.part_template_id,
        template_name=name.strip(),
        version_id=include.part_id,
        version=include.part.number,
        fingerprint=include.part_fingerprint,
    )


def parts_changed(against: TemplateVersion | None, version: TemplateVersion) -> list[dict[str, Any]]:
    """Which included templates changed version from `against` to `version` (added, removed, or another
    version): what a reviewer of a composed prompt needs besides its flattened diff. A template included
    several times is compared occurrence by occurrence, in the order of the text."""

    def parts(of: TemplateVersion | None) -> dict[UUID, list[tuple[str, UUID, str]]]:
        found: dict[UUID, list[tuple[str, UUID, str]]] = {}
        if of is not None and of.source is not None:
            for include in includes_of(of.pk):
                found.setdefault(include.part_template_id, []).append(
                    (include.part_template.name, include.part_id, include.part.number)
                )
        return found

    before, after = parts(against), parts(version)
    changed = []
    for template_id in [*after, *(key for key in before if key not in after)]:
        for old, new in zip_longest(before.get(template_id, []), after.get(template_id, [])):
            if old is not None and new is not None and old[1] == new[1]:
                continue
            changed.append(
                {
                    "templateId": template_id,
                    "name": (new or old)[0],
                    "fromVersionId": old[1] if old else None,
                    "from": old[2] if old else None,
                    "toVersionId": new[1] if new else None,
                    "to": new[2] if new else None,
                }
            )
    return changed


def audit_entries_for_template(template_id: UUID) -> list[AuditEntry]:
    """The template's own changes and its versions' creation, oldest first."""
    # Many-to-many changes come as rows of ids: shown as names (tags, usernames, group names).
    names: dict[str, dict[Any, str]] = {"tags": {}, "maintainers": {}, "maintainer_groups": {}}
    lookups: dict[str, tuple[str, Any, str]] = {
        "tags": ("tag", Tag.objects, "name"),
        "maintainers": ("user", User.objects, "username"),
        "maintainer_groups": ("group", Group.objects, "name"),
    }

    def present(field_name: str, value: Any) -> Any:
        if field_name not in lookups or not isinstance(value, list):
            return value
        column, objects, name_field = lookups[field_name]
        known = names[field_name]
        ids = [row[column] for row in value]
        missing = [object_id for object_id in ids if object_id not in known]
        if missing:
            known.update(objects.filter(pk__in=missing).values_list("pk", name_field))
        return sorted(known.get(object_id, str(object_id)) for object_id in ids)

    template_records = (
        PromptTemplate.history.filter(id=template_id)
        .select_related("history_user")
        .order_by("history_date", "history_id")
    )
    version_records = (
        TemplateVersion.history.filter(template_id=template_id)
        .select_related("history_user")
        .order_by("history_date", "history_id")
    )
    entries = entries_from_history(
        template_records,
        subject="template",
        describe=lambda record, action: f"template '{record.name}' {action}",
        ignore_fields=["updated_at"],
        present=present,
    )
    entries += entries_from_history(
        version_records,
        subject="version",
        describe=lambda record, action: f"version {record.major}.{record.minor}.{record.patch} {action}",
    )
    return entries


# Which template a version belongs to never changes (versions are immutable and never deleted), so the
# answer may be kept in memory for as long as the process lives: execution reports ask it for every row.
_template_of_version: LRUCache[UUID, UUID] = LRUCache(maxsize=200_000)
_template_of_version_lock = threading.Lock()


def templates_of_versions(version_ids: Iterable[UUID]) -> dict[UUID, UUID]:
    """The template id of each of these versions that exists."""
    wanted = set(version_ids)
    with _template_of_version_lock:
        found = {vid: _template_of_version[vid] for vid in wanted if vid in _template_of_version}
    missing = wanted - found.keys()
    if missing:
        loaded = dict(TemplateVersion.objects.filter(pk__in=missing).values_list("pk", "template_id"))
        with _template_of_version_lock:
            _template_of_version.update(loaded)
        found.update(loaded)
    return found
