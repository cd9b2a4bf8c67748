from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.urls import URLPattern, path


def api_path(route: str, view: Callable[..., Any], name: str) -> list[URLPattern]:
    """A route without a trailing slash (API.md), that also answers with one."""
    return [path(route, view, name=name), path(f"{route}/", view)]
