"""Checks of the descriptive fields: tags and the metadata of templates and versions."""

from __future__ import annotations

from typing import Any

from lifecycle.core.exceptions import InvalidInput

MAX_TAGS = 20
MAX_TAG_LENGTH = 50
COMPLEXITIES = ("low", "medium", "high")
MAX_METADATA_CHARS = 20_000

# The keys the original system gives a meaning to, and the type each must have. Other keys are kept as
# given: metadata is where teams put what we did not think of.
_STRING_KEYS = ("author", "changelog")


def normalize_tags(raw: Any, path: str = "tags") -> list[str]:
    """A list of distinct, trimmed tag names, in the order given."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidInput.at(path, "must be a list of strings")
    tags: list[str] = []
    for index, tag in enumerate(raw):
        if not isinstance(tag, str) or not tag.strip() or len(tag.strip()) > MAX_TAG_LENGTH:
            raise InvalidInput.at(
                f"{path}[{index}]", f"must be a non-empty string of at most {MAX_TAG_LENGTH} characters"
            )
        if tag.strip() not in tags:
            tags.append(tag.strip())
    if len(tags) > MAX_TAGS:
        raise InvalidInput.at(path, f"at most {MAX_TAGS} tags")
    return tags


def check_metadata(raw: Any, path: str = "metadata") -> dict[str, Any]:
    """Template or version metadata: author, changelog, estimatedTokens, complexity, usageContext, version."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput.at(path, "must be an object")
    for key in _STRING_KEYS:
        if key in raw and not isinstance(raw[key], str):
            raise InvalidInput.at(f"{path}.{key}", "must be a string")
    tokens = raw.get("estimatedTokens")
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0):
        raise InvalidInput.at(f"{path}.estimatedTokens", "must be a whole number of 0 or more")
    complexity = raw.get("complexity")
    if complexity is not None and complexity not in COMPLEXITIES:
        raise InvalidInput.at(f"{path}.complexity", f"must be one of {', '.join(COMPLEXITIES)}")
    usage = raw.get("usageContext")
    if usage is not None and (not isinstance(usage, list) or not all(isinstance(item, str) for item in usage)):
        raise InvalidInput.at(f"{path}.usageContext", "must be a list of strings")
    version = raw.get("version")
    if version is not None and not isinstance(version, str):
        raise InvalidInput.at(f"{path}.version", "must be a string such as 1.0.0")
    if len(repr(raw)) > MAX_METADATA_CHARS:
        raise InvalidInput.at(path, f"must be at most {MAX_METADATA_CHARS} characters")
    return dict(raw)
