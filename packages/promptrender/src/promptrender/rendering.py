"""The safe renderer: a version compiled once into literal pieces and variable slots.

Rendering checks every value against the version's variable schema, then joins the literal pieces with
the values' text. Nothing in a value is evaluated or scanned for placeholders, so `{{x}}` or any
template syntax inside a value reaches the model as those exact characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from promptrender.definitions import VersionDefinition
from promptrender.variables import resolve_values


def _join(pieces: tuple[str, ...], texts: Mapping[str, str]) -> str:
    if len(pieces) == 1:
        return pieces[0]
    out = list(pieces)
    for index in range(1, len(out), 2):
        out[index] = texts[out[index]]
    return "".join(out)


@dataclass(frozen=True)
class IncludedPart:
    """A template a version includes, at the exact version resolved when the version was created."""

    reference: str
    where: str
    template_id: UUID
    template_name: str
    version_id: UUID
    version: str
    fingerprint: str

    def to_json(self) -> dict[str, str]:
        return {
            "reference": self.reference,
            "where": self.where,
            "templateId": str(self.template_id),
            "name": self.template_name,
            "versionId": str(self.version_id),
            "version": self.version,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class RenderPlan:
    """A version ready to render: immutable, so safe to keep in memory for as long as the process lives."""

    version_id: UUID
    template_id: UUID
    version: str
    definition: VersionDefinition
    text_pieces: tuple[str, ...] | None
    message_pieces: tuple[tuple[str, tuple[str, ...]], ...] | None
    # The parts its text was built from (already spliced into it): resolve lists them.
    includes: tuple[IncludedPart, ...] = ()

    @classmethod
    def compile(
        cls,
        *,
        version_id: UUID,
        template_id: UUID,
        version: str,
        definition: VersionDefinition,
        includes: tuple[IncludedPart, ...] = (),
    ) -> RenderPlan:
        parsed = definition.parsed_texts()
        if definition.messages is not None:
            message_pieces = tuple(
                (role, text.pieces) for (role, _), text in zip(definition.messages, parsed, strict=True)
            )
            text_pieces = None
        else:
            message_pieces, text_pieces = None, parsed[0].pieces
        return cls(version_id, template_id, version, definition, text_pieces, message_pieces, includes)

    def to_json(self) -> dict[str, Any]:
        """The version as clients receive it (`GET /api/templates/bundle`): all that rendering it needs."""
        definition = self.definition
        body: dict[str, Any] = {
            "versionId": str(self.version_id),
            "templateId": str(self.template_id),
            "version": self.version,
        }
        if definition.messages is not None:
            body["messages"] = definition.messages_json()
        else:
            body["content"] = definition.content
        body["variables"] = definition.variables_json()
        body["modelConfig"] = definition.model_config
        body["provider"] = definition.provider
        return body

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RenderPlan:
        """A version as to_json wrote it, compiled (its includes are already in its text)."""
        definition = VersionDefinition.stored(
            content=raw.get("content"),
            messages=raw.get("messages"),
            variables=raw.get("variables", []),
            model_config=raw.get("modelConfig", {}),
            provider=raw.get("provider", ""),
        )
        return cls.compile(
            version_id=UUID(raw["versionId"]),
            template_id=UUID(raw["templateId"]),
            version=raw["version"],
            definition=definition,
        )

    @property
    def size(self) -> int:
        """Roughly what it holds in memory, in characters of text (for the cache's budget)."""
        pieces = self.text_pieces or tuple(piece for _, message in self.message_pieces or () for piece in message)
        return 1000 + sum(len(piece) for piece in pieces)

    def render(self, values: Mapping[str, Any]) -> str | list[dict[str, str]]:
        """The rendered text, or the rendered chat messages; ValuesInvalid when a value breaks the schema."""
        texts = resolve_values(self.definition.variables, values)
        if self.message_pieces is not None:
            return [{"role": role, "content": _join(pieces, texts)} for role, pieces in self.message_pieces]
        assert self.text_pieces is not None
        return _join(self.text_pieces, texts)
