"""Semantic versions of a template, computed from what changed (API.md, "Templates and versions").

major: the variable interface breaks; a caller that rendered the old version may fail on the new one
       (a required variable added, a variable removed or retyped, an optional one made required, a rule
       tightened, a text prompt turned into a chat prompt or back).
minor: it grows compatibly (an optional variable added, a rule loosened, a default changed), or the
       provider or model settings change.
patch: only the text changes (or a variable's description).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from promptrender.definitions import VersionDefinition
from promptrender.variables import VariableSpec

_SEMVER = re.compile(r"(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})")


class Bump(enum.IntEnum):
    PATCH = 1
    MINOR = 2
    MAJOR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Bump:
        return cls[label.upper()]


@dataclass(frozen=True, order=True)
class SemVer:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> SemVer:
        """`1.2.3` (no prefix, no pre-release part); ValueError otherwise."""
        match = _SEMVER.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"{text!r} is not a version of the form MAJOR.MINOR.PATCH, such as 1.0.0")
        return cls(*(int(part) for part in match.groups()))

    def bumped(self, bump: Bump) -> SemVer:
        if bump is Bump.MAJOR:
            return SemVer(self.major + 1, 0, 0)
        if bump is Bump.MINOR:
            return SemVer(self.major, self.minor + 1, 0)
        return SemVer(self.major, self.minor, self.patch + 1)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


FIRST_VERSION = SemVer(1, 0, 0)


@dataclass(frozen=True)
class Change:
    """How a new definition differs from the previous one: the least bump it needs, and why."""

    bump: Bump | None  # None: nothing changed
    reasons: tuple[tuple[Bump, str], ...]

    def reasons_for(self, bump: Bump) -> list[str]:
        return [reason for level, reason in self.reasons if level == bump]

    def summary(self) -> list[dict[str, str]]:
        return [{"level": level.label, "change": reason} for level, reason in self.reasons]


def classify_change(previous: VersionDefinition, new: VersionDefinition) -> Change:
    reasons: list[tuple[Bump, str]] = []
    if previous.kind != new.kind:
        reasons.append((Bump.MAJOR, f"the prompt changed from {previous.kind} to {new.kind}"))

    old_vars = {spec.name: spec for spec in previous.variables}
    new_vars = {spec.name: spec for spec in new.variables}
    for name in sorted(old_vars.keys() - new_vars.keys()):
        reasons.append((Bump.MAJOR, f"variable '{name}' removed"))
    for name in sorted(new_vars.keys() - old_vars.keys()):
        if new_vars[name].required:
            reasons.append((Bump.MAJOR, f"required variable '{name}' added"))
        else:
            reasons.append((Bump.MINOR, f"optional variable '{name}' added"))
    for name in sorted(old_vars.keys() & new_vars.keys()):
        reasons.extend(_variable_changes(old_vars[name], new_vars[name]))
    common = old_vars.keys() & new_vars.keys()
    if [n for n in old_vars if n in common] != [n for n in new_vars if n in common]:
        reasons.append((Bump.PATCH, "variables reordered"))

    if previous.model_config != new.model_config:
        reasons.append((Bump.MINOR, "model settings changed"))
    if previous.provider != new.provider:
        reasons.append((Bump.MINOR, f"provider changed from '{previous.provider}' to '{new.provider}'"))
    text_changed = previous.content != new.content or previous.messages != new.messages
    if text_changed and previous.kind == new.kind:  # a change of kind is already a major change
        reasons.append((Bump.PATCH, "content changed"))

    if not reasons and previous.fingerprint != new.fingerprint:
        # Whatever else differs (it shows in the stored definition) changes no behaviour we know of.
        reasons.append((Bump.PATCH, "definition details changed"))
    if not reasons:
        return Change(bump=None, reasons=())
    return Change(bump=max(level for level, _ in reasons), reasons=tuple(reasons))


def _variable_changes(old: VariableSpec, new: VariableSpec) -> list[tuple[Bump, str]]:
    name = old.name
    changes: list[tuple[Bump, str]] = []
    if old.type != new.type:
        changes.append((Bump.MAJOR, f"variable '{name}' retyped from {old.type} to {new.type}"))
        return changes  # its rules are not comparable across types
    if not old.required and new.required:
        changes.append((Bump.MAJOR, f"variable '{name}' made required"))
    elif old.required and not new.required:
        changes.append((Bump.MINOR, f"variable '{name}' made optional"))
    old_rules, new_rules = old.rules(), new.rules()
    for rule in sorted(old_rules.keys() | new_rules.keys()):
        direction = _rule_direction(rule, old_rules.get(rule), new_rules.get(rule))
        if direction == "tightened":
            changes.append((Bump.MAJOR, f"variable '{name}': rule {rule} tightened"))
        elif direction == "loosened":
            changes.append((Bump.MINOR, f"variable '{name}': rule {rule} loosened"))
        elif direction == "reordered":
            changes.append((Bump.PATCH, f"variable '{name}': {rule} choices reordered"))
    if old.has_default != new.has_default or (old.has_default and old.default != new.default):
        changes.append((Bump.MINOR, f"variable '{name}': default changed"))
    if old.description != new.description:
        changes.append((Bump.PATCH, f"variable '{name}': description changed"))
    return changes


def _rule_direction(rule: str, old: Any, new: Any) -> str | None:
    """Whether a rule's change can refuse a value the old rule accepted ("tightened"), only accepts more
    ("loosened"), or accepts the same values ("reordered": the same enum choices in another order)."""
    if old == new:
        return None
    if old is None:
        return "tightened"
    if new is None:
        return "loosened"
    if rule == "enum":
        if sorted(map(repr, old)) == sorted(map(repr, new)):
            return "reordered"
        return "loosened" if all(choice in new for choice in old) else "tightened"
    if rule in ("minLength", "minimum"):
        return "tightened" if new > old else "loosened"
    if rule in ("maxLength", "maximum"):
        return "tightened" if new < old else "loosened"
    return "tightened"  # a changed pattern: whether it accepts less cannot be decided, so assume it may
