"""Include references in a version's text: `{{> house-style}}` and `{{> house-style@2.1.0}}` (issue 14).

How they are found and spliced; templates_app.composition resolves and checks them.

- A reference is `{{>`, the included template's name, optionally `@` and an exact version (semver), and
  `}}` (what follows the last `@` is the version when it is empty or starts with a digit, or `v` and a
  digit; else the `@` is part of the name); spaces around the name and version are allowed, `\\{{>` is
  literal text (as `\\{{` is for a placeholder). The name is matched as template names are
  (promptrender.names.name_key: case-folded).
- References are found in the author's text, with the line and column of each, before its placeholders
  are parsed; a broken reference is an IncludeError at its line and column (a 400 naming it).
- splice() puts each part's text where its reference stood, as is: the part's own placeholders become
  placeholders of the including version (its variables join the interface) and its escapes stay escapes.
  Parts are versions, stored already flattened, so one level of splicing yields the whole text whatever
  the nesting (composition checks that a join changes no placeholder, and refuses cycles and depth).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from promptrender.placeholders import PlaceholderError, position_of

from templates_app.semver import SemVer

INCLUDE_OPEN = "{{>"
INCLUDE_CLOSE = "}}"
MAX_REFERENCE_NAME_LENGTH = 200  # a template's name, as PromptTemplate.name allows


class IncludeError(PlaceholderError):
    """A broken include reference, at a 1-based line and column of the text (as a broken placeholder)."""


@dataclass(frozen=True)
class IncludeRef:
    """One `{{> name[@version]}}` in a text: what it names, and where it stands ([start, end) in the text)."""

    name: str
    version: SemVer | None  # None: the version active in the environment the author names, at creation
    start: int
    end: int
    line: int
    column: int

    @property
    def written(self) -> str:
        """The reference in its plain form, for messages: `house-style@2.1.0`, or `house-style`."""
        return self.name if self.version is None else f"{self.name}@{self.version}"


def _meant_as_version(text: str) -> bool:
    """Whether what follows a reference's last `@` is meant as a version (then it must be one): nothing,
    or a digit first, or `v` and a digit (a common misspelling worth a clear error)."""
    return not text or text[0].isdigit() or (text[0] in "vV" and text[1:2].isdigit())


def find_includes(text: str, *, limit: int | None = None) -> tuple[IncludeRef, ...]:
    """The include references of `text`, in order; IncludeError at the first broken one. With `limit`, stops
    after limit + 1 references (enough to say there are too many, without reading the rest)."""
    found: list[IncludeRef] = []
    cursor = 0
    while (start := text.find(INCLUDE_OPEN, cursor)) != -1:
        if limit is not None and len(found) > limit:
            break
        if start > 0 and text[start - 1] == "\\":
            cursor = start + len(INCLUDE_OPEN)
            continue
        line, column = position_of(text, start)
        end = text.find(INCLUDE_CLOSE, start + len(INCLUDE_OPEN))
        following = text.find("{{", start + len(INCLUDE_OPEN))
        if end == -1 or (following != -1 and following < end):
            raise IncludeError(line, column, "'{{>' is not closed by '}}'")
        body = text[start + len(INCLUDE_OPEN) : end]
        name, at, version_text = body.rpartition("@") if "@" in body else (body, "", "")
        if at and not _meant_as_version(version_text.strip()):
            name, at, version_text = body, "", ""  # an "@" inside a template's name ("team@acme"), not a version
        name = name.strip()
        if not name:
            raise IncludeError(line, column, "names no template: write {{> template-name}} or {{> name@1.2.0}}")
        if len(name) > MAX_REFERENCE_NAME_LENGTH:
            raise IncludeError(line, column, f"a template name has at most {MAX_REFERENCE_NAME_LENGTH} characters")
        version = None
        if at:
            try:
                version = SemVer.parse(version_text.strip())
            except ValueError:
                raise IncludeError(
                    line, column, f"'{version_text.strip()}' is not a version: write name@MAJOR.MINOR.PATCH"
                ) from None
        found.append(IncludeRef(name, version, start, end + len(INCLUDE_CLOSE), line, column))
        cursor = end + len(INCLUDE_CLOSE)
    return tuple(found)


def splice(text: str, references: Sequence[IncludeRef], parts: Mapping[IncludeRef, str]) -> str:
    """`text` with each reference (found in it by find_includes, in order) replaced by its part's text."""
    pieces: list[str] = []
    cursor = 0
    for reference in references:
        pieces.append(text[cursor : reference.start])
        pieces.append(parts[reference])
        cursor = reference.end
    pieces.append(text[cursor:])
    return "".join(pieces)
