"""Where versions are live: owned by lifecycle.releases (a higher layer), shown by this app's API.

This app cannot import releases, so releases plugs a `LiveStateSource` in when it starts
(`lifecycle/releases/apps.py`). Without one, nothing is reported live anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True)
class ActiveVersion:
    """The version active in one environment."""

    version_id: UUID
    version: str
    deployed_at: datetime
    deployed_by: str | None


@dataclass(frozen=True)
class VersionLiveState:
    """Where one version is approved and where it is active."""

    approved_for: tuple[str, ...] = ()
    active_in: tuple[str, ...] = ()


@dataclass(frozen=True)
class TemplateLiveState:
    """What each environment serves for one template (None: nothing)."""

    active: dict[str, ActiveVersion | None] = field(default_factory=dict)


class LiveStateSource(Protocol):
    def for_versions(self, version_ids: Iterable[UUID]) -> dict[UUID, VersionLiveState]: ...

    def for_template(self, template_id: UUID) -> TemplateLiveState: ...


class _NothingLive:
    def for_versions(self, version_ids: Iterable[UUID]) -> dict[UUID, VersionLiveState]:
        return {}

    def for_template(self, template_id: UUID) -> TemplateLiveState:
        return TemplateLiveState()


_source: LiveStateSource = _NothingLive()


def register(source: LiveStateSource) -> None:
    global _source
    _source = source


def current() -> LiveStateSource:
    return _source
