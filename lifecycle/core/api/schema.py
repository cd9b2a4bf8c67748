from __future__ import annotations

from typing import Any


def without_trailing_slash_twins(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """drf-spectacular preprocessing hook: every route also answers with a trailing slash (api_path);
    the schema documents each once, without it, as API.md writes them."""
    return [endpoint for endpoint in endpoints if not endpoint[0].endswith("/")]
