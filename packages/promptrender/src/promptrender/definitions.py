"""What a version says: its text (or chat messages), variables, model settings and provider.

`VersionDefinition.parse` is the one check of a definition, used by the API and the admin alike. It
accepts raw JSON and either returns a definition whose placeholders all name declared variables, or
raises DefinitionInvalid with every problem and where it is (`content: line 3, column 14: ...`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptrender.placeholders import ParsedText, PlaceholderError, parse_text
from promptrender.variables import VariablesInvalid, VariableSpec, parse_variables

ROLES = ("system", "user", "assistant")
MAX_TEXT_LENGTH = 200_000
MAX_MESSAGES = 100
MAX_PROVIDER_LENGTH = 50

# The model settings we know the meaning of, and the range each may take. Others are passed through
# as given: providers add parameters faster than we could list them.
_NUMBER_SETTINGS: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "topP": (0.0, 1.0),
    "frequencyPenalty": (-2.0, 2.0),
    "presencePenalty": (-2.0, 2.0),
}
_COUNT_SETTINGS = ("maxTokens", "topK")


class DefinitionInvalid(Exception):
    """The definition cannot be a version; `problems` maps each path to its messages."""

    def __init__(self, problems: dict[str, list[str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {', '.join(msgs)}" for path, msgs in problems.items()))


@dataclass(frozen=True)
class VersionDefinition:
    """The renderable part of a version; two versions with equal fingerprints say the same thing."""

    content: str | None
    messages: tuple[tuple[str, str], ...] | None
    variables: tuple[VariableSpec, ...]
    model_config: dict[str, Any]
    provider: str
    fingerprint: str

    @property
    def kind(self) -> str:
        return "chat" if self.messages is not None else "text"

    def messages_json(self) -> list[dict[str, str]] | None:
        if self.messages is None:
            return None
        return [{"role": role, "content": content} for role, content in self.messages]

    def variables_json(self) -> list[dict[str, Any]]:
        return [spec.to_json() for spec in self.variables]

    def parsed_texts(self) -> tuple[ParsedText, ...]:
        """The content, or each message's content, split at its placeholders (valid by construction)."""
        if self.messages is not None:
            return tuple(parse_text(content) for _, content in self.messages)
        return (parse_text(self.content or ""),)

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> VersionDefinition:
        """Check raw JSON fields `content` | `messages`, `variables`, `modelConfig`, `provider`."""
        problems: dict[str, list[str]] = {}

        def problem(where: str, message: str) -> None:
            problems.setdefault(where, []).append(message)

        try:
            variables = parse_variables(raw.get("variables"))
        except VariablesInvalid as exc:
            problems.update(exc.problems)
            variables = None
        declared = {spec.name for spec in variables} if variables is not None else None

        content, messages = raw.get("content"), raw.get("messages")
        texts: list[tuple[str, str]] = []  # (path, text) of everything that may hold placeholders
        if content is not None and messages is not None:
            problem("content", "give either content (a text prompt) or messages (a chat prompt), not both")
        elif content is None and messages is None:
            problem("content", "is required (or messages, for a chat prompt)")
        elif content is not None:
            if not isinstance(content, str) or not content.strip():
                problem("content", "must be a non-empty string")
            elif len(content) > MAX_TEXT_LENGTH:
                problem("content", f"must be at most {MAX_TEXT_LENGTH} characters")
            else:
                texts.append(("content", content))
        else:
            messages = _check_messages(messages, problem)
            if messages is not None:
                texts.extend((f"messages[{i}].content", text) for i, (_, text) in enumerate(messages))

        for path, text in texts:
            try:
                parsed = parse_text(text)
            except PlaceholderError as exc:
                problem(path, str(exc))
                continue
            if declared is None:
                continue  # the variables are broken; their problems are already reported
            for name, line, column in parsed.placements:
                if name not in declared:
                    problem(path, f"line {line}, column {column}: {{{{{name}}}}} is not a declared variable")

        model_config = _check_model_config(raw.get("modelConfig"), problem)
        provider = raw.get("provider")
        if provider is None:
            provider = ""
        elif not isinstance(provider, str) or len(provider) > MAX_PROVIDER_LENGTH:
            problem("provider", f"must be a string of at most {MAX_PROVIDER_LENGTH} characters")

        if problems:
            raise DefinitionInvalid(problems)
        assert variables is not None
        assert model_config is not None
        return cls.build(
            content=content if messages is None else None,
            messages=tuple(messages) if messages is not None else None,
            variables=variables,
            model_config=model_config,
            provider=provider,
        )

    @classmethod
    def stored(
        cls,
        *,
        content: str | None,
        messages: list[dict[str, str]] | None,
        variables: Any,
        model_config: dict[str, Any],
        provider: str,
    ) -> VersionDefinition:
        """A definition as stored (and sent to clients), checked when its version was created: messages as
        JSON objects, variables as their JSON schema."""
        pairs = tuple((message["role"], message["content"]) for message in messages) if messages is not None else None
        return cls.build(
            content=content if pairs is None else None,
            messages=pairs,
            variables=parse_variables(variables),
            model_config=model_config,
            provider=provider,
        )

    @classmethod
    def build(
        cls,
        *,
        content: str | None,
        messages: tuple[tuple[str, str], ...] | None,
        variables: tuple[VariableSpec, ...],
        model_config: dict[str, Any],
        provider: str,
    ) -> VersionDefinition:
        canonical = json.dumps(
            {
                "content": content,
                "messages": [list(pair) for pair in messages] if messages is not None else None,
                "variables": [spec.to_json() for spec in variables],
                "modelConfig": model_config,
                "provider": provider,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return cls(
            content=content,
            messages=messages,
            variables=variables,
            model_config=model_config,
            provider=provider,
            fingerprint=hashlib.sha256(canonical.encode()).hexdigest(),
        )


def _check_messages(messages: Any, problem: Any) -> list[tuple[str, str]] | None:
    if not isinstance(messages, list) or not messages:
        problem("messages", "must be a non-empty list of {role, content} objects")
        return None
    if len(messages) > MAX_MESSAGES:
        problem("messages", f"must have at most {MAX_MESSAGES} messages")
        return None
    checked: list[tuple[str, str]] = []
    ok = True
    for index, message in enumerate(messages):
        at = f"messages[{index}]"
        if not isinstance(message, dict):
            problem(at, "must be an object with role and content")
            ok = False
            continue
        for key in sorted(set(message) - {"role", "content"}):
            problem(f"{at}.{key}", "unknown key; a message has role and content")
            ok = False
        role, text = message.get("role"), message.get("content")
        if role not in ROLES:
            problem(f"{at}.role", f"must be one of {', '.join(ROLES)}")
            ok = False
        if not isinstance(text, str) or len(text) > MAX_TEXT_LENGTH:
            problem(f"{at}.content", f"must be a string of at most {MAX_TEXT_LENGTH} characters")
            ok = False
        if ok:
            checked.append((str(role), str(text)))
    return checked if ok else None


def _finite(value: int | float) -> bool:
    return isinstance(value, int) or math.isfinite(value)  # math.isfinite overflows on huge ints


def _check_model_config(config: Any, problem: Any) -> dict[str, Any] | None:
    if config is None:
        return {}
    if not isinstance(config, dict):
        problem("modelConfig", 'must be an object such as {"model": "...", "temperature": 0.2}')
        return None
    ok = True

    def bad(key: str, message: str) -> None:
        nonlocal ok
        ok = False
        problem(f"modelConfig.{key}", message)

    model = config.get("model")
    if model is not None and (not isinstance(model, str) or not model or len(model) > 200):
        bad("model", "must be a model name (a string of 1 to 200 characters)")
    for key, (low, high) in _NUMBER_SETTINGS.items():
        value = config.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
            bad(key, "must be a number")
        elif not low <= value <= high:
            bad(key, f"must be between {low:g} and {high:g}")
    for key in _COUNT_SETTINGS:
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            bad(key, "must be a whole number of 1 or more")
    stop = config.get("stop")
    if stop is not None and (not isinstance(stop, list) or not all(isinstance(item, str) for item in stop)):
        bad("stop", "must be a list of strings")
    return config if ok else None
