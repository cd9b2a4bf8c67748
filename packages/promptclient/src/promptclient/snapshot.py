"""What the client knows of the templates it uses, at one moment: an immutable snapshot built from a bundle.

Renders read the current snapshot without a lock (swapping the reference is atomic); a refresh builds a
new one and swaps it in. Versions never change, so a compiled version is reused across snapshots.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from promptrender.names import name_key
from promptrender.rendering import RenderPlan
from promptrender.serving import LiveTest, ServedVariant, TestVariants


def reference_key(reference: str) -> str:
    """A template reference as the client files it: a canonical id, or a name as names compare."""
    try:
        return str(UUID(reference.strip()))
    except ValueError:
        return "name:" + name_key(reference)


@dataclass(frozen=True)
class TemplateEntry:
    template_id: UUID
    name: str
    active_version_id: UUID | None
    live: LiveTest | None


@dataclass(frozen=True)
class Snapshot:
    environment: str
    etag: str | None
    entries: Mapping[str, TemplateEntry] = field(default_factory=dict)  # by reference_key (id and name)
    plans: Mapping[UUID, RenderPlan] = field(default_factory=dict)
    bundle: Mapping[str, Any] | None = None  # as the server sent it (what the on-disk cache keeps)
    missing: frozenset[str] = frozenset()  # references the server knows no template by

    def is_missing(self, reference: str) -> bool:
        return reference_key(reference) in self.missing

    def find(self, reference: str) -> TemplateEntry | None:
        return self.entries.get(reference_key(reference))

    @classmethod
    def from_bundle(cls, body: Mapping[str, Any], etag: str | None, previous: Snapshot | None = None) -> Snapshot:
        """The snapshot a bundle describes; versions compiled before are reused."""
        known = previous.plans if previous is not None else {}
        plans: dict[UUID, RenderPlan] = {}
        for raw_id, raw in body["versions"].items():
            version_id = UUID(raw_id)
            plans[version_id] = known.get(version_id) or RenderPlan.from_json(raw)
        entries: dict[str, TemplateEntry] = {}
        for item in body["templates"]:
            live = None
            if item["abTest"] is not None:
                test = item["abTest"]
                variants = TestVariants(
                    UUID(test["id"]),
                    tuple(ServedVariant(v["id"], UUID(v["versionId"]), v["control"]) for v in test["variants"]),
                    tuple(float(v["trafficPercentage"]) for v in test["variants"]),
                )
                live = LiveTest(variants, running=test["running"])
            active = UUID(item["activeVersionId"]) if item["activeVersionId"] else None
            entry = TemplateEntry(UUID(item["templateId"]), item["name"], active, live)
            for key in (
                reference_key(item["reference"]),
                reference_key(item["templateId"]),
                reference_key(item["name"]),
            ):
                entries[key] = entry
        missing = frozenset(reference_key(reference) for reference in body["missing"])
        return cls(body["environment"], etag, entries, plans, body, missing)
