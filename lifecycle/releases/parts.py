"""What composition (templates_app.composition) needs to know of deployments: which of a version's parts have
an update available, and which templates include a template, per environment (the reach of a change to a
shared part)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db.models import Q

from lifecycle.core.environments import Environment
from lifecycle.releases.models import Deployment
from lifecycle.releases.selectors import active_version_id
from templates_app.composition import MAX_INCLUDE_DEPTH, PartLookup, refresh_target
from templates_app.models import PromptTemplate, TemplateVersion, VersionInclude
from templates_app.selectors import template_row


@dataclass(frozen=True)
class PartUpdate:
    """A part of a version that a refresh (`refreshIncludes`) would move to another version."""

    include: VersionInclude
    available: TemplateVersion

    @property
    def environment(self) -> str | None:
        """Unpinned: the environment the part is looked up in; pinned: None."""
        return self.include.environment or None


def updates_available(version: TemplateVersion) -> list[PartUpdate]:
    """The version's parts that have another version to offer: for an unpinned reference, the version now
    active in the environment it was taken from; for a pinned one, the part's newest version."""
    if version.source is None:
        return []
    includes = VersionInclude.objects.filter(version=version).select_related(
        "part", "part_template", "part_template__latest_version"
    )
    lookup = PartLookup(active_version_of=active_version_id)
    updates = []
    for include in includes:
        target = refresh_target(
            include.part_template,
            pinned=include.part.semver if include.pinned else None,
            environment=include.environment,
            parts=lookup,
        )
        if target is not None and target.pk != include.part_id:
            updates.append(PartUpdate(include, target))
    return updates


@dataclass
class Dependent:
    """A version that includes (a version of) the template, directly or through the parts named in `via`."""

    version: TemplateVersion
    included: TemplateVersion
    via: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Dependents:
    template: PromptTemplate
    by_environment: dict[str, list[Dependent]]
    latest: list[Dependent]

    @property
    def environments(self) -> list[dict[str, Any]]:
        """Every environment in order, with the dependents it serves."""
        return [{"environment": name, "dependents": items} for name, items in self.by_environment.items()]


def dependents_of(template_id: UUID) -> Dependents:
    """The templates whose versions include `template_id`, directly or through other parts: the version
    each environment serves and each template's newest version (what its next deploy would carry), with
    the version of `template_id` each includes.

    One query per nesting level and three more, however many versions ever included it: the levels are
    subqueries, never lists of ids sent back to the database.
    """
    template = template_row(template_id)
    levels = [VersionInclude.objects.filter(part_template_id=template_id)]
    for _ in range(MAX_INCLUDE_DEPTH - 1):
        levels.append(VersionInclude.objects.filter(part_id__in=levels[-1].values("version_id")))
    # dependent version -> (the version of template_id it includes, the parts in between, outermost first)
    reach: dict[UUID, tuple[UUID, list[str]]] = {}
    for depth, level in enumerate(levels):
        for version_id, part_id, part_name in level.values_list("version_id", "part_id", "part_template__name"):
            if version_id in reach:
                continue
            if depth == 0:
                reach[version_id] = (part_id, [])
            elif part_id in reach:
                included, via = reach[part_id]
                reach[version_id] = (included, [part_name, *via])

    def any_level(field_name: str) -> Q:
        condition = Q()
        for level in levels:
            condition |= Q(**{f"{field_name}__in": level.values("version_id")})
        return condition

    its_versions = TemplateVersion.objects.filter(template_id=template_id).in_bulk()

    def dependent(version: TemplateVersion) -> Dependent:
        part_id, via = reach[version.pk]
        return Dependent(version, its_versions[part_id], via)

    by_environment: dict[str, list[Dependent]] = {environment: [] for environment in Environment.values}
    active = Deployment.objects.filter(any_level("version_id"), state=Deployment.State.ACTIVE).select_related(
        "version__template"
    )
    for deployment in active:
        by_environment[deployment.environment].append(dependent(deployment.version))
    newest = TemplateVersion.objects.filter(
        any_level("pk"), pk__in=PromptTemplate.objects.values("latest_version_id")
    ).select_related("template")
    latest = [dependent(version) for version in newest]
    for items in [*by_environment.values(), latest]:
        items.sort(key=lambda item: item.version.template.name.casefold())
    return Dependents(template, by_environment, latest)


def dependents_context(template_id: UUID) -> dict[str, Any]:
    """What admin/releases/dependents.html shows."""
    dependents = dependents_of(template_id)
    return {"dependents": dependents, "dependents_served": any(dependents.by_environment.values())}
