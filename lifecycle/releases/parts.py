"""What composition (templates_app.composition) needs to know of deployments: which of a version's parts have
an update available, and which templates include a template, per environment (the reach of a change to a
shared part)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from lifecycle.core.environments import Environment
from lifecycle.releases.models import Deployment
from lifecycle.releases.selectors import active_version_id
from templates_app.composition import MAX_INCLUDE_DEPTH
from templates_app.models import PromptTemplate, TemplateVersion, VersionInclude
from templates_app.selectors import template_row


@dataclass(frozen=True)
class PartUpdate:
    """A part of a version that a refresh (`refreshIncludes`) would move to another version."""

    include: VersionInclude
    available: TemplateVersion

    def to_json(self) -> dict[str, Any]:
        include = self.include
        return {
            "reference": include.reference,
            "where": include.where,
            "templateId": str(include.part_template_id),
            "name": include.part_template.name,
            "pinned": include.pinned,
            "environment": include.environment or None,
            "includedVersionId": str(include.part_id),
            "includedVersion": include.part.number,
            "availableVersionId": str(self.available.pk),
            "availableVersion": self.available.number,
        }


def updates_available(version: TemplateVersion) -> list[PartUpdate]:
    """The version's parts that have another version to offer: for an unpinned reference, the version now
    active in the environment it was taken from; for a pinned one, the part's newest version."""
    if version.source is None:
        return []
    includes = VersionInclude.objects.filter(version=version).select_related(
        "part", "part_template", "part_template__latest_version"
    )
    updates = []
    for include in includes:
        if include.pinned:
            newest = include.part_template.latest_version
            if newest is not None and newest.semver > include.part.semver:
                updates.append(PartUpdate(include, newest))
            continue
        active_id = active_version_id(include.part_template_id, include.environment)
        if active_id is not None and active_id != include.part_id:
            updates.append(PartUpdate(include, TemplateVersion.objects.get(pk=active_id)))
    return updates


@dataclass
class Dependent:
    """A version that includes (a version of) the template, directly or through the parts named in `via`."""

    version: TemplateVersion
    included: TemplateVersion
    via: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "templateId": str(self.version.template_id),
            "name": self.version.template.name,
            "versionId": str(self.version.pk),
            "version": self.version.number,
            "includedVersionId": str(self.included.pk),
            "includedVersion": self.included.number,
            "via": self.via,
        }


@dataclass(frozen=True)
class Dependents:
    template: PromptTemplate
    by_environment: dict[str, list[Dependent]]
    latest: list[Dependent]

    def to_json(self) -> dict[str, Any]:
        return {
            "templateId": str(self.template.pk),
            "name": self.template.name,
            "environments": [
                {"environment": environment, "dependents": [item.to_json() for item in items]}
                for environment, items in self.by_environment.items()
            ],
            "latest": [item.to_json() for item in self.latest],
        }


def dependents_of(template_id: UUID) -> Dependents:
    """The templates whose versions include `template_id`, directly or through other parts: the version
    each environment serves and each template's newest version (what its next deploy would carry), with
    the version of `template_id` each includes. A handful of queries however many there are."""
    template = template_row(template_id)
    # dependent version -> (the version of template_id it includes, the parts in between)
    reach: dict[UUID, tuple[UUID, list[str]]] = {
        version_id: (part_id, [])
        for version_id, part_id in VersionInclude.objects.filter(part_template_id=template_id).values_list(
            "version_id", "part_id"
        )
    }
    frontier = set(reach)
    for _ in range(MAX_INCLUDE_DEPTH - 1):
        if not frontier:
            break
        rows = VersionInclude.objects.filter(part_id__in=frontier).values_list(
            "version_id", "part_id", "part_template__name"
        )
        following = set()
        for version_id, part_id, part_name in rows:
            if version_id not in reach:
                included, via = reach[part_id]
                reach[version_id] = (included, [part_name, *via])
                following.add(version_id)
        frontier = following

    versions = TemplateVersion.objects.select_related("template").in_bulk(
        {*reach, *(included for included, _ in reach.values())}
    )

    def dependent(version_id: UUID) -> Dependent:
        included, via = reach[version_id]
        return Dependent(versions[version_id], versions[included], via)

    by_environment: dict[str, list[Dependent]] = {environment: [] for environment in Environment.values}
    active = Deployment.objects.filter(state=Deployment.State.ACTIVE, version_id__in=reach).values_list(
        "environment", "version_id"
    )
    for environment, version_id in active:
        by_environment[environment].append(dependent(version_id))
    latest = [
        dependent(version_id)
        for version_id in PromptTemplate.objects.filter(latest_version_id__in=reach).values_list(
            "latest_version_id", flat=True
        )
    ]
    for items in [*by_environment.values(), latest]:
        items.sort(key=lambda item: item.version.template.name.casefold())
    return Dependents(template, by_environment, latest)


def dependents_context(template_id: UUID) -> dict[str, Any]:
    """What admin/releases/dependents.html shows."""
    dependents = dependents_of(template_id)
    return {"dependents": dependents, "dependents_served": any(dependents.by_environment.values())}
