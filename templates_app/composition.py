"""Composition: a version built from other templates' versions, `{{> house-style@2.1.0}}` or `{{> house-style}}`.

What is decided here, once, for the API and the admin alike:

- References are resolved when a version is created, never later: a pinned one to that version of the part,
  an unpinned one to the part's version active in the environment the author names (when they name none:
  where the template's latest version took its parts, else production). The version stores the flattened
  text as its `content` (or messages), which is what its reviewers see in its diff and what render,
  resolve, rollback and A/B tests serve; the author's text and the resolved parts are kept beside it
  (`TemplateVersion.source`, `VersionInclude`). A join that would change a placeholder is refused.
- Only text templates can be included, in a text or in any chat message. A part's variables join the
  including version's interface; the same name declared with a different type or rule is refused.
- Parts may include parts, up to MAX_INCLUDE_DEPTH levels; a template may not include itself, directly or
  through its parts. Parts are stored flattened, so one level of splicing gives the whole text.
- Refreshing (`refreshIncludes`) makes the next version from the latest one's text with every part at its
  available update: unpinned references at the version now active in their environment, pinned ones
  rewritten to the part's newest version. Like any new version, it goes through its template's review.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

from promptrender.definitions import MAX_TEXT_LENGTH
from promptrender.names import name_key
from promptrender.placeholders import PlaceholderError, parse_text, position_of
from promptrender.variables import VariablesInvalid, parse_variables

from lifecycle.core.environments import Environment
from lifecycle.core.exceptions import InvalidInput
from templates_app.includes import IncludeError, IncludeRef, find_includes, splice
from templates_app.models import PromptTemplate, TemplateVersion, VersionInclude
from templates_app.semver import SemVer

# A version may include a part that includes a part that includes a part, no deeper: deep nesting hides
# from a reviewer where a sentence comes from, and each level is one more query when a version is created.
MAX_INCLUDE_DEPTH = 3

# References in one version: enough for any prompt built from parts, few enough to resolve in a blink.
MAX_INCLUDES = 50

# Which version of a template is active in an environment (lifecycle.releases knows; this app does not).
ActiveVersionOf = Callable[[UUID, str], UUID | None]


def _nothing_active(template_id: UUID, environment: str) -> UUID | None:
    return None


@dataclass(frozen=True)
class PartLookup:
    """How unpinned references find their part: the environment (None: the one the latest version's parts
    came from, else production) and who knows what is active there."""

    environment: str | None = None
    active_version_of: ActiveVersionOf = _nothing_active


# Without deployments to ask (templates_app's own callers and tests): unpinned references find nothing.
PINNED_ONLY = PartLookup()


@dataclass(frozen=True)
class ResolvedInclude:
    where: str
    ref: IncludeRef
    written: str  # the reference as it stands in the source (a refresh may have rewritten its version)
    environment: str  # unpinned: where the part was looked up; pinned: ""
    part: TemplateVersion
    # Where the reference stands in the source as stored (a refresh may have rewritten what comes before).
    line: int = 0
    column: int = 0


@dataclass(frozen=True)
class Composition:
    """A definition's raw fields with every part spliced in and their variables joined, and what it came
    from (None when the text includes nothing: the fields are the author's as given)."""

    fields: dict[str, Any]
    source: dict[str, Any] | None = None
    includes: tuple[ResolvedInclude, ...] = field(default=())


def _texts(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(path, text) of every text that may hold references; malformed fields are parse_definition's to report."""
    content, messages = fields.get("content"), fields.get("messages")
    if isinstance(content, str) and messages is None:
        return [] if len(content) > MAX_TEXT_LENGTH else [("content", content)]
    if isinstance(messages, list) and content is None and all(isinstance(message, dict) for message in messages):
        return [
            (f"messages[{index}].content", message["content"])
            for index, message in enumerate(messages)
            if isinstance(message.get("content"), str) and len(message["content"]) <= MAX_TEXT_LENGTH
        ]
    return []


def source_fields(version: TemplateVersion) -> dict[str, Any]:
    """What the author wrote for `version`: its text (with references) and its own variables."""
    if version.source is None:
        kind = "content" if version.messages is None else "messages"
        return {kind: getattr(version, kind), "variables": version.variables}
    return {key: version.source[key] for key in ("content", "messages", "variables") if key in version.source}


class _Problems:
    def __init__(self) -> None:
        self.found: dict[str, list[str]] = {}

    def add(self, where: str, ref: IncludeRef | None, message: str) -> None:
        at = f"line {ref.line}, column {ref.column}: {{{{> {ref.written}}}}}: " if ref is not None else ""
        self.found.setdefault(where, []).append(at + message)

    def raise_any(self) -> None:
        if self.found:
            raise InvalidInput.of(self.found)


def compose(
    fields: Mapping[str, Any],
    *,
    template_id: UUID | None,
    parts: PartLookup,
    refresh: bool = False,
    previous_environment: str | None = None,
    known_parts: Sequence[UUID] | None = None,
) -> Composition:
    """Resolve and splice the references of `fields` (a definition's raw JSON fields) for a version of
    `template_id` (None: a template being created); InvalidInput naming each broken reference with its
    line and column.

    `known_parts`: on a refresh of the latest version's own text, the template each of its references
    resolved to, in order. They are found by id, not by name, so that a part renamed since is still found
    (and the reference rewritten to its new name).
    """
    problems = _Problems()
    found: list[tuple[str, IncludeRef]] = []
    for where, text in _texts(fields):
        try:
            found.extend((where, ref) for ref in find_includes(text, limit=MAX_INCLUDES))
        except IncludeError as exc:
            problems.add(where, None, str(exc))
    problems.raise_any()
    if not found:
        return Composition(fields=dict(fields))
    if len(found) > MAX_INCLUDES:
        where, ref = found[MAX_INCLUDES]
        problems.add(where, ref, f"a version may include at most {MAX_INCLUDES} parts")
        problems.raise_any()

    environment = parts.environment or previous_environment or Environment.PRODUCTION
    by_position = known_parts is not None and len(known_parts) == len(found)
    if by_position:
        by_id = PromptTemplate.objects.in_bulk(known_parts)
        templates_found = [by_id.get(template_id) for template_id in known_parts or ()]
    else:
        by_name = {
            template.name_key: template
            for template in PromptTemplate.objects.filter(name_key__in={name_key(ref.name) for _, ref in found})
        }
        templates_found = [by_name.get(name_key(ref.name)) for _, ref in found]
    resolved: list[ResolvedInclude] = []
    looked_up: dict[tuple[UUID, SemVer | None], tuple[TemplateVersion | None, str]] = {}
    for (where, ref), template in zip(found, templates_found, strict=True):
        if template is None:
            problems.add(where, ref, f"there is no template named '{ref.name}'")
            continue
        if template.pk == template_id:
            problems.add(where, ref, "a template cannot include itself")
            continue
        key = (template.pk, ref.version)
        if key not in looked_up:
            looked_up[key] = _part_for(ref, template, environment, parts, refresh)
        part, problem = looked_up[key]
        if part is None:
            problems.add(where, ref, problem)
            continue
        # A refresh moves a pinned reference to the part's newest version, and follows a renamed part:
        # the source says so.
        name = ref.name if name_key(ref.name) == template.name_key else template.name
        written = name if ref.version is None else f"{name}@{part.number}"
        resolved.append(ResolvedInclude(where, ref, written, "" if ref.version else environment, part))
    problems.raise_any()

    _check_parts(resolved, template_id, problems)
    problems.raise_any()
    variables = _joined_variables(fields.get("variables"), resolved, problems)
    problems.raise_any()

    declared = {spec["name"] for spec in variables} if variables is not None else None
    flattened = dict(fields)
    source: dict[str, Any] = {"variables": fields.get("variables") or [], "environment": environment}
    if "messages" in fields and fields["messages"] is not None:
        source["messages"] = [dict(message) for message in fields["messages"]]
    placed: list[ResolvedInclude] = []
    for where, text in _texts(fields):
        here = [item for item in resolved if item.where == where]
        refs = [item.ref for item in here]
        # The source keeps each reference as the author wrote it, unless a refresh rewrote it.
        as_written = {
            item.ref: text[item.ref.start : item.ref.end]
            if item.written == item.ref.written
            else f"{{{{> {item.written}}}}}"
            for item in here
        }
        source_text = splice(text, refs, as_written)
        flat = splice(text, refs, {item.ref: item.part.content or "" for item in here})
        _check_joined(where, text, here, flat, declared, problems)
        placed.extend(
            replace(item, line=ref.line, column=ref.column)
            for item, ref in zip(here, find_includes(source_text), strict=True)
        )
        _put(flattened, where, flat)
        _put(source, where, source_text)
    problems.raise_any()
    if variables is not None:
        flattened["variables"] = variables
    return Composition(fields=flattened, source=source, includes=tuple(placed))


def _segments(text: str, refs: Sequence[IncludeRef]) -> list[tuple[int, str]]:
    """The author's own text around the references: (where it starts in `text`, the text)."""
    segments, cursor = [], 0
    for ref in refs:
        segments.append((cursor, text[cursor : ref.start]))
        cursor = ref.end
    segments.append((cursor, text[cursor:]))
    return segments


def _literal_and_names(pieces_of_texts: Iterable[tuple[str, ...]]) -> list[tuple[bool, str]]:
    """Parsed texts laid end to end as (is a placeholder, text or name), adjacent literal text merged."""
    joined: list[tuple[bool, str]] = []
    for pieces in pieces_of_texts:
        for index, piece in enumerate(pieces):
            is_name = index % 2 == 1
            if not is_name and not piece:
                continue
            if not is_name and joined and not joined[-1][0]:
                joined[-1] = (False, joined[-1][1] + piece)
            else:
                joined.append((is_name, piece))
    return joined


def _shifted(line0: int, column0: int, line: int, column: int) -> str:
    """A position in a segment starting at (line0, column0) of its text, as a position in that text."""
    if line == 1:
        return f"line {line0}, column {column0 + column - 1}"
    return f"line {line0 + line - 1}, column {column}"


def _check_joined(
    where: str,
    text: str,
    here: list[ResolvedInclude],
    flat: str,
    declared: set[str] | None,
    problems: _Problems,
) -> None:
    """The author's own placeholders, checked where the author wrote them (line and column of the source);
    the flattened text's length; and that splicing changed no placeholder (a part ending in a backslash
    would escape the author's next `{{`; a `{` on each side of a join would make a new one)."""
    pieces: list[tuple[str, ...]] = []
    parts = iter(here)
    for start, segment in _segments(text, [item.ref for item in here]):
        line0, column0 = position_of(text, start)

        try:
            parsed = parse_text(segment)
        except PlaceholderError as exc:
            problems.add(where, None, f"{_shifted(line0, column0, exc.line, exc.column)}: {exc.problem}")
            return
        for name, line, column in parsed.placements:
            if declared is not None and name not in declared:
                problems.add(
                    where, None, f"{_shifted(line0, column0, line, column)}: {{{{{name}}}}} is not a declared variable"
                )
        pieces.append(parsed.pieces)
        item = next(parts, None)
        if item is not None:
            pieces.append(parse_text(item.part.content or "").pieces)  # valid: the part was checked
    if len(flat) > MAX_TEXT_LENGTH:
        problems.add(where, None, f"with its parts the text has {len(flat):,} characters; at most {MAX_TEXT_LENGTH:,}")
        return
    try:
        same = _literal_and_names([parse_text(flat).pieces]) == _literal_and_names(pieces)
    except PlaceholderError:
        same = False
    if not same:
        first = here[0]
        problems.add(
            where,
            first.ref,
            "joined to the text around it, a part changes its placeholders (a '\\' or '{' where a part meets "
            "the text): put a space or a line break between them",
        )


def _put(target: dict[str, Any], where: str, text: str) -> None:
    if where == "content":
        target["content"] = text
        return
    index = int(where[len("messages[") : where.index("]")])
    messages = [dict(message) for message in target["messages"]]
    messages[index]["content"] = text
    target["messages"] = messages


def _part_for(
    ref: IncludeRef,
    template: PromptTemplate,
    environment: str,
    parts: PartLookup,
    refresh: bool,
) -> tuple[TemplateVersion | None, str]:
    """The version a reference names, or None and why there is none."""
    if ref.version is None or refresh:
        target = refresh_target(template, pinned=ref.version, environment=environment, parts=parts)
        if target is not None:
            return target, ""
        if ref.version is None:
            return None, f"'{template.name}' has no version active in {environment}"
    part = (
        TemplateVersion.objects.select_related("template")
        .filter(template=template, major=ref.version.major, minor=ref.version.minor, patch=ref.version.patch)
        .first()
    )
    if part is None:
        return None, f"'{template.name}' has no version {ref.version}"
    return part, ""


def refresh_target(
    template: PromptTemplate, *, pinned: SemVer | None, environment: str, parts: PartLookup
) -> TemplateVersion | None:
    """The version of `template` that a reference to it takes on a refresh: unpinned, the version active in
    `environment` (None: nothing is); pinned to `pinned`, the template's newest version when it is newer
    (None: the reference stays). The one rule behind `refreshIncludes` and "updates available"."""
    if pinned is None:
        version_id = parts.active_version_of(template.pk, environment)
        if version_id is None:
            return None
        return TemplateVersion.objects.select_related("template").get(pk=version_id)
    newest = template.latest_version
    return newest if newest is not None and newest.semver > pinned else None


def _check_parts(resolved: list[ResolvedInclude], template_id: UUID | None, problems: _Problems) -> None:
    """Chat parts, cycles through parts, and nesting deeper than MAX_INCLUDE_DEPTH are refused."""
    reach = included_templates([item.part.pk for item in resolved])
    for item in resolved:
        if item.part.messages is not None:
            problems.add(
                item.where,
                item.ref,
                f"'{item.part.template.name}' is a chat template: only text templates can be included",
            )
            continue
        templates, depth = reach[item.part.pk]
        if template_id is not None and template_id in templates:
            problems.add(
                item.where,
                item.ref,
                f"'{item.part.template.name}' {item.part.number} includes this template: a cycle",
            )
        elif depth + 1 > MAX_INCLUDE_DEPTH:
            problems.add(
                item.where,
                item.ref,
                f"parts nest {depth + 1} levels deep here; at most {MAX_INCLUDE_DEPTH} are allowed",
            )


def included_templates(version_ids: Iterable[UUID]) -> dict[UUID, tuple[set[UUID], int]]:
    """For each version: the templates it includes, directly or through its parts, and how deep its parts
    nest (0: it includes nothing). One query per level; stored versions nest at most MAX_INCLUDE_DEPTH."""
    wanted = list(dict.fromkeys(version_ids))
    # frontier: version id -> the versions whose reach it extends
    reach: dict[UUID, tuple[set[UUID], int]] = {vid: (set(), 0) for vid in wanted}
    frontier: dict[UUID, set[UUID]] = {vid: {vid} for vid in wanted}
    level = 0
    while frontier and level <= MAX_INCLUDE_DEPTH:
        level += 1
        rows = VersionInclude.objects.filter(version_id__in=frontier).values_list(
            "version_id", "part_id", "part_template_id"
        )
        following: dict[UUID, set[UUID]] = {}
        for version_id, part_id, part_template_id in rows:
            for origin in frontier[version_id]:
                templates, depth = reach[origin]
                templates.add(part_template_id)
                reach[origin] = (templates, max(depth, level))
                following.setdefault(part_id, set()).add(origin)
        frontier = following
    return reach


def _comparable(spec: dict[str, Any]) -> str:
    """A variable's type and rules, as text to compare (1 and 1.0 are one number)."""

    def plain(value: Any) -> Any:
        return int(value) if isinstance(value, float) and value.is_integer() else value

    rules = {key: plain(value) for key, value in spec.items() if key != "description"}
    return json.dumps(rules, sort_keys=True)


def _joined_variables(own: Any, resolved: list[ResolvedInclude], problems: _Problems) -> list[dict[str, Any]] | None:
    """The author's variables followed by each part's that are not declared already; a name declared with
    another type or rule is a problem. None when the author's own are malformed (parse_definition says so)."""
    try:
        declared = {spec.name: spec.to_json() for spec in parse_variables(own)}
    except VariablesInvalid:
        return None
    joined = dict(declared)
    origin = dict.fromkeys(declared, "this version")
    for item in resolved:
        for spec in item.part.variables:
            name = spec["name"]
            if name not in joined:
                joined[name], origin[name] = spec, f"'{item.part.template.name}' {item.part.number}"
            elif _comparable(joined[name]) != _comparable(spec):
                problems.add(
                    "variables",
                    None,
                    f"'{name}' is declared by {origin[name]} as {_comparable(joined[name])} and by "
                    f"'{item.part.template.name}' {item.part.number} as {_comparable(spec)}: one name, one meaning",
                )
    return list(joined.values())


def save_includes(version: TemplateVersion, composition: Composition) -> None:
    """Record the resolved references of a version being created (with it, in its transaction)."""
    VersionInclude.objects.bulk_create(
        VersionInclude(
            version=version,
            position=position,
            where=item.where,
            line=item.line,
            column=item.column,
            reference=item.written,
            pinned=item.ref.version is not None,
            environment=item.environment,
            part=item.part,
            part_template_id=item.part.template_id,
            part_fingerprint=item.part.fingerprint,
        )
        for position, item in enumerate(composition.includes)
    )
