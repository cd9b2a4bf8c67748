"""What differs between two versions: a unified diff of the text, and the changes of the interface."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from promptrender.definitions import VersionDefinition

from lifecycle.core.exceptions import InvalidInput
from templates_app.models import TemplateVersion
from templates_app.selectors import parts_changed
from templates_app.semver import classify_change


def _as_text(definition: VersionDefinition | None) -> list[str]:
    """The text a reviewer reads: the content, or each chat message under a `### role` heading."""
    if definition is None:
        return []
    if definition.messages is None:
        return (definition.content or "").splitlines(keepends=True)
    lines: list[str] = []
    for role, content in definition.messages:
        lines.append(f"### {role}\n")
        lines.extend(content.splitlines(keepends=True))
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
    return lines


@dataclass(frozen=True)
class VersionDiff:
    against: TemplateVersion | None
    version: TemplateVersion
    unified_diff: str
    variables: dict[str, Any]
    model_config: dict[str, Any] | None
    provider: dict[str, Any] | None
    changes: list[dict[str, str]]
    # Included templates that changed version (templates_app.selectors.parts_changed): the flattened text
    # above shows what they say; this says where it came from.
    parts: list[dict[str, Any]]


def diff_versions(against: TemplateVersion | None, version: TemplateVersion) -> VersionDiff:
    """`version` compared with `against`, another version of its template (None: with nothing, as for a
    first version)."""
    if against is not None and against.template_id != version.template_id:
        raise InvalidInput.at("against", "must be a version of the same template")
    old_def = against.definition() if against is not None else None
    new_def = version.definition()
    old_lines, new_lines = _as_text(old_def), _as_text(new_def)
    unterminated = [bool(lines) and not lines[-1].endswith("\n") for lines in (old_lines, new_lines)]
    # When one text ends without a line break and the other with one, say so as git does, or that
    # change would be invisible (chat messages are shown one per block, always ending in a line break).
    both_text = old_def is not None and old_def.kind == new_def.kind == "text"
    mark = both_text and bool(old_lines) and bool(new_lines) and unterminated[0] != unterminated[1]
    for lines, open_ended in zip((old_lines, new_lines), unterminated, strict=True):
        if open_ended:
            lines[-1] += "\n"
            if mark:
                lines.append("\\ No newline at end of file\n")
    unified = "".join(
        difflib.unified_diff(
            old_lines,
            new_lines,
            fromfile=f"{against.number}" if against is not None else "/dev/null",
            tofile=version.number,
        )
    )

    old_vars = {spec.name: spec.to_json() for spec in old_def.variables} if old_def else {}
    new_vars = {spec.name: spec.to_json() for spec in new_def.variables}
    changed = []
    for name in sorted(old_vars.keys() & new_vars.keys()):
        before, after = old_vars[name], new_vars[name]
        fields = {
            key: {"from": before.get(key), "to": after.get(key)}
            for key in sorted(before.keys() | after.keys())
            if json.dumps(before.get(key)) != json.dumps(after.get(key))
        }
        if fields:
            changed.append({"name": name, "fields": fields})
    variables = {
        "added": [new_vars[name] for name in sorted(new_vars.keys() - old_vars.keys())],
        "removed": [old_vars[name] for name in sorted(old_vars.keys() - new_vars.keys())],
        "changed": changed,
    }

    model_config = None
    provider = None
    if old_def is not None and old_def.model_config != new_def.model_config:
        model_config = {"from": old_def.model_config, "to": new_def.model_config}
    if old_def is not None and old_def.provider != new_def.provider:
        provider = {"from": old_def.provider, "to": new_def.provider}
    changes = classify_change(old_def, new_def).summary() if old_def is not None else []
    parts = parts_changed(against, version)
    return VersionDiff(against, version, unified, variables, model_config, provider, changes, parts)
