"""A version as people read it in the admin: its variables as a table, and its diff (templates_app.diff):
what changes in words, with the version step each change needs; the content or chat messages as a coloured
unified diff; the variable interface, model settings and provider as tables of before and after.

One diff feeds both faces: the API answers templates_app.diff's VersionDiff as JSON, the admin renders the
same object here (the version page against the version before, the request page against what the
environment serves).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from promptrender.variables import RULE_KEYS

from templates_app.diff import VersionDiff

NOTHING = "—"


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "del", "hunk", "file", "note", "same"
    text: str


@dataclass(frozen=True)
class VariableRow:
    name: str
    status: str  # "added", "removed", "changed", "unchanged"
    before: dict[str, str]  # type, required, default, rules, description: as shown
    after: dict[str, str]
    changed: frozenset[str]  # which of those differ
    reasons: list[tuple[str, str]]  # (level, what changed)


@dataclass(frozen=True)
class SettingRow:
    key: str
    before: str
    after: str
    changed: bool


def shown(value: Any) -> str:
    """A JSON value as one line of text: strings as they are, anything else as JSON; nothing as a dash."""
    if value is None:
        return NOTHING
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def variables_table(variables: list[dict[str, Any]]) -> SafeString:
    """A version's variables (as stored: VariableSpec.to_json) as a table people read."""
    if not variables:
        return SafeString("None: the prompt takes no values.")
    rows = [(spec["name"], _variable_cells(spec)) for spec in variables]
    return SafeString(render_to_string("admin/templates_app/variables_table.html", {"rows": rows}))


def _variable_cells(spec: dict[str, Any] | None) -> dict[str, str]:
    if spec is None:
        return dict.fromkeys(("type", "required", "default", "rules", "description"), NOTHING)
    rules = "; ".join(f"{key}: {shown(spec[key])}" for key in RULE_KEYS if key in spec)
    return {
        "type": spec.get("type", "string"),
        "required": "required" if spec.get("required", True) else "optional",
        "default": shown(spec["default"]) if "default" in spec else NOTHING,
        "rules": rules or NOTHING,
        "description": spec.get("description") or NOTHING,
    }


def _lines(unified: str) -> list[DiffLine]:
    lines = []
    for text in unified.splitlines():
        if text.startswith(("+++", "---")):
            kind = "file"
        elif text.startswith("@@"):
            kind = "hunk"
        elif text.startswith("+"):
            kind = "add"
        elif text.startswith("-"):
            kind = "del"
        elif text.startswith("\\"):
            kind = "note"
        else:
            kind = "same"
        lines.append(DiffLine(kind, text))
    return lines


def variable_rows(diff: VersionDiff) -> list[VariableRow]:
    """Every variable of either version: what it is before and after, and the changes that concern it."""
    old = {spec.name: spec.to_json() for spec in diff.against.definition().variables} if diff.against else {}
    new = {spec.name: spec.to_json() for spec in diff.version.definition().variables}
    names = [*new, *(name for name in old if name not in new)]
    rows = []
    for name in names:
        before, after = _variable_cells(old.get(name)), _variable_cells(new.get(name))
        if name not in old:
            status = "added"
        elif name not in new:
            status = "removed"
        else:
            status = "changed" if before != after else "unchanged"
        changed = frozenset(key for key in before if before[key] != after[key]) if status == "changed" else frozenset()
        reasons = [(item["level"], item["change"]) for item in diff.changes if f"variable '{name}'" in item["change"]]
        rows.append(VariableRow(name, status, before, after, changed, reasons))
    return rows


def setting_rows(diff: VersionDiff) -> list[SettingRow]:
    """The model settings of both versions, key by key."""
    old = diff.against.model_config if diff.against else {}
    new = diff.version.model_config
    return [
        SettingRow(key, shown(old.get(key)), shown(new.get(key)), old.get(key) != new.get(key))
        for key in [*new, *(key for key in old if key not in new)]
    ]


def diff_html(diff: VersionDiff, heading: str) -> SafeString:
    """The diff as an admin page shows it, under `heading` (e.g. "against 1.1.1, active in production")."""
    before_provider = diff.against.provider if diff.against else None
    context = {
        "heading": heading,
        "whole": diff.against is None,
        "changes": [(item["level"], item["change"]) for item in diff.changes],
        "lines": _lines(diff.unified_diff),
        "variables": variable_rows(diff),
        "settings": setting_rows(diff),
        "provider": (shown(before_provider), shown(diff.version.provider or None)),
        "provider_changed": diff.against is not None and before_provider != diff.version.provider,
        "parts": diff.parts,
    }
    return SafeString(render_to_string("admin/templates_app/version_diff.html", context))
