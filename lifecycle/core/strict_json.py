"""JSON as the product accepts it: what can be stored and read back by every database we run on.

Python's json module accepts more than that: NaN and Infinity (and 1e400, which it reads as infinity),
lone UTF-16 surrogates and NUL characters through \\u escapes (PostgreSQL cannot store either, and a lone
surrogate cannot even be written back out as UTF-8), and nesting deep enough to exhaust the stack.
`loads` refuses all of these with a JSONDecodeError that says why. The API's parser and the admin's JSON
fields both read through it, so no stored value can make a later read fail.
"""

from __future__ import annotations

import json
import math
import re
from itertools import compress
from typing import Any

# Containers inside one another, the outermost counting as 1: `{"a": [1]}` is 2 deep.
MAX_DEPTH = 64
_TOO_DEEP = f"is nested more than {MAX_DEPTH} levels deep"


class JSONRejected(json.JSONDecodeError):
    """Well-formed JSON that we do not accept; `reason` completes "The JSON ..." (e.g. "holds NaN")."""

    def __init__(self, reason: str, document: str) -> None:
        super().__init__(reason, document, 0)
        self.reason = reason

    def __str__(self) -> str:
        return f"The JSON {self.reason}."


def _reject_constant(name: str) -> float:
    raise ValueError(f"holds {name}, which is not a number JSON can carry")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"holds {text}, a number too large to store")
    return value


# Only a \u escape can put a NUL or a lone surrogate into parsed JSON (the text itself is valid UTF-8).
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def _problem_in(value: Any) -> str | None:
    """The first NUL or lone surrogate anywhere in a parsed value (iteratively: no recursion limit to hit)."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            problem = _problem_in_text(item)
            if problem:
                return problem
        elif isinstance(item, dict):
            for key, child in item.items():
                problem = _problem_in_text(key)
                if problem:
                    return problem
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
    return None


_CONTAINERS = frozenset({dict, list})


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether containers in a parsed value nest more than `limit` deep.

    Ingestion posts a thousand reports per request, so this is on a hot path: it goes down one level at a
    time, and each level's children are gathered and filtered by builtins (map, compress) rather than by a
    Python loop over every value. Parsed JSON holds exact dicts and lists, never subclasses.
    """
    level = [value] if type(value) in _CONTAINERS else []
    for _ in range(limit):
        if not level:
            return False
        children: list[Any] = []
        for container in level:
            children.extend(container.values() if type(container) is dict else container)
        level = list(compress(children, map(_CONTAINERS.__contains__, map(type, children))))
    return bool(level)


def _problem_in_text(text: str) -> str | None:
    if "\x00" in text:
        return "holds a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds an unpaired UTF-16 surrogate (such as \\ud800), which is not a character"
    return None


# Measured on this project's machine: counting brackets costs about 0.6 ns a character, walking a parsed
# value about 50 ns a value (a 1,000-report batch: 840 kB, 23,000 values).
_COUNT_BRACKETS_UP_TO = 64 * 1024


def _may_nest_too_deep(text: str) -> bool:
    """False when the text has too few brackets to nest past MAX_DEPTH, so that its value need not be walked.

    Small bodies (a render, a single report) are counted, which costs less than walking them. A large one
    (a batch of a thousand reports) has far more brackets than MAX_DEPTH anyway: counting would only add
    to the walk it cannot spare, so it is walked at once.
    """
    if len(text) > _COUNT_BRACKETS_UP_TO:
        return True
    return text.count("{") + text.count("[") > MAX_DEPTH


def loads(text: str) -> Any:
    """Parse JSON text, or raise json.JSONDecodeError saying what makes it unacceptable."""
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise JSONRejected(_TOO_DEEP, text) from None
    except ValueError as exc:  # from the hooks above, or Python's limit on the digits of an integer
        reason = str(exc) if str(exc).startswith("holds ") else f"holds a number too long to read ({exc})"
        raise JSONRejected(reason, text) from None
    if _may_nest_too_deep(text) and _nested_deeper_than(value, MAX_DEPTH):
        raise JSONRejected(_TOO_DEEP, text)
    # The walk over strings runs only when the text could hold a NUL or a lone surrogate: the strings of a
    # batch of a thousand reports are not looked at one by one.
    if _SUSPECT_ESCAPE.search(text):
        problem = _problem_in(value)
        if problem:
            raise JSONRejected(problem, text)
    return value


class StrictJSONDecoder(json.JSONDecoder):
    """`loads` as a decoder class, for Django's forms.JSONField(decoder=...)."""

    def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return loads(s)
