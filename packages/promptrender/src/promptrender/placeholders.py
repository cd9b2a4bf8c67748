"""Placeholder syntax: `{{name}}`, spaces inside the braces allowed, `\\{{` for a literal `{{`.

Text is split once, when a version is created, into literal pieces and variable names. Rendering joins
the pieces with the values (see rendering.py), so a value is never evaluated and never scanned for
placeholders: `{{other}}` inside a value stays those exact characters. A lone `}}` is ordinary text,
because prompts often quote JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
_PLACEHOLDER_BODY = re.compile(rf"\s*({NAME_PATTERN})\s*")


@dataclass(frozen=True)
class PlaceholderError(Exception):
    """Broken placeholder syntax, at a 1-based line and column of the text."""

    line: int
    column: int
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.problem}"


@dataclass(frozen=True)
class ParsedText:
    """A text cut into pieces: even positions are literal text, odd positions are variable names."""

    pieces: tuple[str, ...]
    # Where each placeholder starts, for error messages about undeclared names: (name, line, column).
    placements: tuple[tuple[str, int, int], ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.pieces[1::2])


def position_of(text: str, index: int) -> tuple[int, int]:
    """The 1-based line and column of `text[index]`."""
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def parse_text(text: str) -> ParsedText:
    """Split `text` at its placeholders, or raise PlaceholderError saying where the syntax breaks."""
    pieces: list[str] = []
    placements: list[tuple[str, int, int]] = []
    literal: list[str] = []
    cursor = 0
    while True:
        start = text.find("{{", cursor)
        if start == -1:
            literal.append(text[cursor:])
            break
        if start > 0 and text[start - 1] == "\\":
            literal.append(text[cursor : start - 1] + "{{")
            cursor = start + 2
            continue
        end = text.find("}}", start + 2)
        following = text.find("{{", start + 2)
        if end == -1 or (following != -1 and following < end):
            line, column = position_of(text, start)
            raise PlaceholderError(line, column, "'{{' is not closed by '}}' (write '\\{{' for literal braces)")
        match = _PLACEHOLDER_BODY.fullmatch(text, start + 2, end)
        if match is None:
            line, column = position_of(text, start)
            shown = text[start : end + 2]
            if len(shown) > 40:
                shown = shown[:37] + "..."
            raise PlaceholderError(
                line,
                column,
                f"malformed placeholder {shown!r}: write {{{{name}}}}, where name is letters, digits and "
                "underscores, not starting with a digit",
            )
        literal.append(text[cursor:start])
        pieces.append("".join(literal))
        literal = []
        name = match.group(1)
        pieces.append(name)
        placements.append((name, *position_of(text, start)))
        cursor = end + 2
    pieces.append("".join(literal))
    return ParsedText(pieces=tuple(pieces), placements=tuple(placements))
