"""docker-compose.yml read as Compose reads it (YAML merge keys, then `${VAR}` interpolation), so that tests
can check the topology and run its commands without containers when no Compose engine is installed."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"

# $$ | $NAME | ${NAME} | ${NAME:-default} ${NAME-default} | ${NAME:?error} ${NAME?error} | ${NAME:+alt} ${NAME+alt}
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<plain>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<operator>:?[-?+])(?P<argument>[^}]*))?\})"
)


class MissingVariable(ValueError):
    pass


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """`text` with Compose's variables replaced from `env` (the Compose file specification's rules)."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["plain"] or match["name"]
        operator, argument = match["operator"], match["argument"] or ""
        value = env.get(name)
        unset_or_empty = value is None or (value == "" and operator is not None and operator.startswith(":"))
        if operator in ("-", ":-"):
            return argument if (value is None if operator == "-" else unset_or_empty) else value  # type: ignore[return-value]
        if operator in ("?", ":?"):
            if value is None if operator == "?" else unset_or_empty:
                raise MissingVariable(f"{name}: {argument or 'required'}")
            return value  # type: ignore[return-value]
        if operator in ("+", ":+"):
            return "" if (value is None if operator == "+" else unset_or_empty) else argument
        return value or ""

    return _VARIABLE.sub(replace, text)


def _interpolated(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolated(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolated(value, env) for key, value in node.items()}
    return node


def load_compose(env: Mapping[str, str], path: Path = COMPOSE_FILE) -> dict[str, Any]:
    """The file as `docker compose config` would see it with `env` (merge keys resolved, variables
    replaced; MissingVariable for a required one that is not set). Extension fields (x-*) are dropped."""
    raw = yaml.safe_load(path.read_text())
    return {key: _interpolated(value, env) for key, value in raw.items() if not key.startswith("x-")}


def command_line(service: Mapping[str, Any]) -> str:
    """A service's command as one shell line (Compose's exec form, or its string form as it is)."""
    command = service["command"]
    return command if isinstance(command, str) else shlex.join(command)


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):  # ["NAME=value", ...]
        environment = dict(item.split("=", 1) for item in environment)
    return {name: "" if value is None else str(value) for name, value in environment.items()}


def healthcheck_line(service: Mapping[str, Any]) -> str | None:
    """A service's health check as one shell line, or None without one."""
    test = (service.get("healthcheck") or {}).get("test")
    if not test:
        return None
    if isinstance(test, str):
        return test
    kind, *rest = test
    return rest[0] if kind == "CMD-SHELL" else shlex.join(rest)
