"""Variable schemas: what a version declares (`VariableSpec`), and the check of a value against it.

A schema is checked when a version is created (`parse_variables`), and every value is checked against
it when the version is rendered (`VariableSpec.problem_with`). The rules follow JSON Schema's meaning
where JSON Schema has the same word: `pattern` matches anywhere unless anchored, `minLength` and
`maxLength` count characters of a string or items of an array.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import regex

from promptrender.placeholders import NAME_PATTERN

TYPES = ("string", "number", "integer", "boolean", "array", "object")
_NAME = regex.compile(NAME_PATTERN)
_KEYS = {
    "name", "type", "required", "description", "default",
    "enum", "pattern", "minLength", "maxLength", "minimum", "maximum",
}  # fmt: skip
# Authors write patterns; integrations send values. A pathological pattern must not hold a worker,
# so every match runs under a time limit.
PATTERN_TIMEOUT_SECONDS = 0.05
MAX_PATTERN_LENGTH = 1000
MAX_VARIABLES = 100
RULE_KEYS = ("enum", "pattern", "minLength", "maxLength", "minimum", "maximum")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def json_type_of(value: Any) -> str:
    """The JSON type name of a parsed JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def matches_type(value: Any, type_name: str) -> bool:
    actual = json_type_of(value)
    if type_name == "number":
        return actual == "integer" or (actual == "number" and math.isfinite(value))
    return actual == type_name


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_finite_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


@dataclass(frozen=True)
class VariableSpec:
    """One declared variable of a version, with its optional validation rules."""

    name: str
    type: str = "string"
    required: bool = True
    description: str = ""
    default: Any = MISSING
    enum: tuple[Any, ...] | None = None
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    _compiled: Any = field(default=None, compare=False, repr=False)

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required}
        if self.description:
            data["description"] = self.description
        if self.has_default:
            data["default"] = self.default
        for key, value in (
            ("enum", list(self.enum) if self.enum is not None else None),
            ("pattern", self.pattern),
            ("minLength", self.min_length),
            ("maxLength", self.max_length),
            ("minimum", self.minimum),
            ("maximum", self.maximum),
        ):
            if value is not None:
                data[key] = value
        return data

    def rules(self) -> dict[str, Any]:
        """The validation rules alone, by their JSON names (for comparing two versions)."""
        data = self.to_json()
        return {key: data[key] for key in RULE_KEYS if key in data}

    def problem_with(self, value: Any) -> str | None:
        """Why `value` breaks this variable's type or rules, or None when it is acceptable."""
        if not matches_type(value, self.type):
            if isinstance(value, float) and not math.isfinite(value):
                return "must be a finite number"
            return f"must be of type {self.type}, not {json_type_of(value)}"
        if self.enum is not None and not any(_same_json(value, allowed) for allowed in self.enum):
            return f"must be one of {json.dumps(list(self.enum), ensure_ascii=False)}"
        if self.min_length is not None and len(value) < self.min_length:
            return f"must have at least {self.min_length} {'characters' if self.type == 'string' else 'items'}"
        if self.max_length is not None and len(value) > self.max_length:
            return f"must have at most {self.max_length} {'characters' if self.type == 'string' else 'items'}"
        if self.minimum is not None and value < self.minimum:
            return f"must be at least {self.minimum}"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {self.maximum}"
        if self._compiled is not None:
            try:
                found = self._compiled.search(value, timeout=PATTERN_TIMEOUT_SECONDS)
            except TimeoutError:
                return "could not be checked against the variable's pattern in time"
            if found is None:
                return f"must match the pattern {self.pattern!r}"
        return None


def _json_key(value: Any) -> str:
    """Equal JSON values get equal keys: 1 and 1.0 are one number, true is not 1."""
    if isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
        value = int(value)
    return json.dumps(value, sort_keys=True)


def _same_json(left: Any, right: Any) -> bool:
    """JSON equality: true is not 1, and 1 equals 1.0."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    return bool(left == right)


def end_anchors_at_end(pattern: str) -> str:
    """The pattern with each `$` anchor written `\\Z`, so that it matches only at the end of the value.

    In JSON Schema (ECMA-262) `$` is the end of the value; in Python it also matches before a final
    line break, so `^[a-z]+$` would let "abc\\n" smuggle a line break into the prompt. Escaped dollars
    and dollars inside a character class are literal characters and are left alone.
    """
    out: list[str] = []
    index, class_start = 0, -1  # where the character class we are in starts, -1 outside one
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if class_start >= 0:
            # A ] first in the class (after [ or [^) is a literal ], not the end of the class.
            first = class_start + (2 if pattern[class_start + 1 : class_start + 2] == "^" else 1)
            if char == "]" and index != first:
                class_start = -1
        elif char == "[":
            class_start = index
        elif char == "$":
            char = "\\Z"
        out.append(char)
        index += 1
    return "".join(out)


class VariablesInvalid(Exception):
    """The variable schema is broken; `problems` maps a path such as `variables[1].type` to messages."""

    def __init__(self, problems: dict[str, list[str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {', '.join(msgs)}" for path, msgs in problems.items()))


def parse_variables(raw: Any, path: str = "variables") -> tuple[VariableSpec, ...]:
    """Check a JSON list of variable definitions and return it as specs, or raise VariablesInvalid."""
    problems: dict[str, list[str]] = {}

    def problem(where: str, message: str) -> None:
        problems.setdefault(where, []).append(message)

    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise VariablesInvalid({path: [f"must be a list of variable definitions, not {json_type_of(raw)}"]})
    if len(raw) > MAX_VARIABLES:
        raise VariablesInvalid({path: [f"at most {MAX_VARIABLES} variables"]})

    specs: list[VariableSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        at = f"{path}[{index}]"
        if not isinstance(item, dict):
            problem(at, f"must be an object, not {json_type_of(item)}")
            continue
        for key in sorted(set(item) - _KEYS):
            problem(f"{at}.{key}", f"unknown key; a variable has {', '.join(sorted(_KEYS))}")
        spec = _parse_one(item, at, problem)
        if spec is None:
            continue
        if spec.name in seen:
            problem(f"{at}.name", f"'{spec.name}' is declared twice")
            continue
        seen.add(spec.name)
        specs.append(spec)
    if problems:
        raise VariablesInvalid(problems)
    return tuple(specs)


def _parse_one(item: Mapping[str, Any], at: str, problem: Any) -> VariableSpec | None:
    errors_before = _ProblemCounter(problem)
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problem(f"{at}.name", "must be letters, digits and underscores, not starting with a digit")
        return None
    type_name = item.get("type", "string")
    if type_name not in TYPES:
        problem(f"{at}.type", f"must be one of {', '.join(TYPES)}")
        return None
    required = item.get("required", True)
    if not isinstance(required, bool):
        errors_before.report(f"{at}.required", "must be true or false")
    description = item.get("description", "")
    if not isinstance(description, str) or len(description) > 2000:
        errors_before.report(f"{at}.description", "must be a string of at most 2000 characters")

    kwargs: dict[str, Any] = {}
    enum = item.get("enum")
    if enum is not None:
        if type_name in ("array", "object"):
            errors_before.report(f"{at}.enum", f"is not allowed for type {type_name}")
        elif not isinstance(enum, list) or not enum:
            errors_before.report(f"{at}.enum", "must be a non-empty list")
        elif not all(matches_type(choice, type_name) for choice in enum):
            errors_before.report(f"{at}.enum", f"every choice must be of type {type_name}")
        elif len({_json_key(choice) for choice in enum}) != len(enum):
            errors_before.report(f"{at}.enum", "choices must not repeat")
        else:
            kwargs["enum"] = tuple(enum)

    pattern = item.get("pattern")
    if pattern is not None:
        if type_name != "string":
            errors_before.report(f"{at}.pattern", "is allowed only for type string")
        elif not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN_LENGTH:
            errors_before.report(
                f"{at}.pattern", f"must be a regular expression of 1 to {MAX_PATTERN_LENGTH} characters"
            )
        else:
            try:
                # ASCII: in JSON Schema (ECMA-262) \d, \w and \s are ASCII classes; in Python they are Unicode.
                kwargs["_compiled"] = regex.compile(end_anchors_at_end(pattern), flags=regex.ASCII)
                kwargs["pattern"] = pattern
            except regex.error as exc:
                errors_before.report(f"{at}.pattern", f"is not a valid regular expression: {exc}")

    for key, attr in (("minLength", "min_length"), ("maxLength", "max_length")):
        value = item.get(key)
        if value is None:
            continue
        if type_name not in ("string", "array"):
            errors_before.report(f"{at}.{key}", "is allowed only for types string and array")
        elif not _is_count(value):
            errors_before.report(f"{at}.{key}", "must be a whole number of 0 or more")
        else:
            kwargs[attr] = value
    for key in ("minimum", "maximum"):
        value = item.get(key)
        if value is None:
            continue
        if type_name not in ("number", "integer"):
            errors_before.report(f"{at}.{key}", "is allowed only for types number and integer")
        elif not _is_finite_number(value):
            errors_before.report(f"{at}.{key}", "must be a number")
        else:
            kwargs[key] = value
    if kwargs.get("min_length", 0) > kwargs.get("max_length", math.inf):
        errors_before.report(f"{at}.minLength", "must not be greater than maxLength")
    if kwargs.get("minimum", -math.inf) > kwargs.get("maximum", math.inf):
        errors_before.report(f"{at}.minimum", "must not be greater than maximum")
    if errors_before.any:
        return None

    spec = VariableSpec(name=name, type=type_name, required=required, description=description, **kwargs)
    if "default" in item:
        default = item["default"]
        if required:
            problem(f"{at}.default", "a required variable has no default; make it optional (required: false)")
            return None
        reason = spec.problem_with(default)
        if reason is not None:
            problem(f"{at}.default", reason)
            return None
        spec = replace(spec, default=default)
    return spec


class _ProblemCounter:
    """Reports problems and remembers whether any was reported."""

    def __init__(self, problem: Any) -> None:
        self._problem = problem
        self.any = False

    def report(self, where: str, message: str) -> None:
        self.any = True
        self._problem(where, message)


class ValuesInvalid(ValueError):
    """Render-time values break the schema: `fields` names each problem by `variables.<name>` (the server
    answers a 400 with them), `message` the first."""

    def __init__(self, problems: dict[str, list[str]]) -> None:
        path, messages = next(iter(problems.items()))
        self.message = f"Invalid input: {path}: {messages[0]}"
        self.fields = problems
        super().__init__(self.message)


def as_text(value: Any) -> str:
    """How a value appears in the rendered prompt: strings as they are, everything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def resolve_values(specs: Sequence[VariableSpec], values: Mapping[str, Any]) -> dict[str, str]:
    """The text each declared variable renders as, after checking every value; or raise ValuesInvalid.

    A null counts as not given. Values for undeclared names are ignored: integrations may send one set of
    values to every variant of an A/B test.
    """
    texts: dict[str, str] = {}
    problems: dict[str, list[str]] = {}
    for spec in specs:
        value = values.get(spec.name)
        if value is None:
            if spec.required:
                problems[f"variables.{spec.name}"] = ["is required"]
            else:
                texts[spec.name] = as_text(spec.default) if spec.has_default else ""
            continue
        reason = spec.problem_with(value)
        if reason is not None:
            problems[f"variables.{spec.name}"] = [reason]
        else:
            texts[spec.name] = as_text(value)
    if problems:
        raise ValuesInvalid(problems)
    return texts
