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
from typing import Any

MAX_DEPTH = 64  # checked where the text is walked anyway (see loads)


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
    """The first problem anywhere in a parsed value (iteratively: no recursion limit to hit)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"is nested more than {MAX_DEPTH} levels deep"
        if isinstance(item, str):
            problem = _problem_in_text(item)
            if problem:
                return problem
        elif isinstance(item, dict):
            for key, child in item.items():
                problem = _problem_in_text(key)
                if problem:
                    return problem
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return None


def _problem_in_text(text: str) -> str | None:
    if "\x00" in text:
        return "holds a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds an unpaired UTF-16 surrogate (such as \\ud800), which is not a character"
    return None


def loads(text: str) -> Any:
    """Parse JSON text, or raise json.JSONDecodeError saying what makes it unacceptable."""
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise JSONRejected("is nested too deeply to read", text) from None
    except ValueError as exc:  # from the hooks above, or Python's limit on the digits of an integer
        reason = str(exc) if str(exc).startswith("holds ") else f"holds a number too long to read ({exc})"
        raise JSONRejected(reason, text) from None
    # The walk over the parsed value runs only when the text could hold a NUL or a lone surrogate: a
    # batch of a thousand reports is not walked. (Nesting is limited by the parser's own recursion limit,
    # caught above; nothing that reads stored JSON here recurses in Python.)
    if _SUSPECT_ESCAPE.search(text):
        problem = _problem_in(value)
        if problem:
            raise JSONRejected(problem, text)
    return value


class StrictJSONDecoder(json.JSONDecoder):
    """`loads` as a decoder class, for Django's forms.JSONField(decoder=...)."""

    def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return loads(s)
