"""The OpenAPI schema's shared parts: the one error shape, and the error answers every operation can give.

Integrations generate clients from `/api/schema/`, so every answer, success or error, is in it. A view
declares the errors of its own rules (`errors(403, 404, 409)`); `document_common_errors` adds to every
operation the answers that come from the plumbing rather than from the view: 401 without credentials,
400/411/413/415 for a body that cannot be read, 429 over the rate limit, 503 when the database is busy.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse

ERROR_COMPONENT = "Error"

# The body of every error (lifecycle.core.api.errors.error_body builds it), as a schema component.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error the API answers, whatever its status (API.md, 'Conventions').",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "stable, for programs: e.g. invalid, not_found"},
                "message": {"type": "string", "description": "for people"},
                "fields": {
                    "type": "object",
                    "description": "invalid input: each wrong field's messages, by its path in the body or query",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
            "required": ["code", "message"],
            "additionalProperties": False,
        }
    },
    "required": ["error"],
    "additionalProperties": False,
}

# What each error status means in this API.
ERROR_MEANINGS: dict[int, str] = {
    400: "Invalid input: `fields` names each wrong field (e.g. `data.variables[1].name`) with its messages.",
    401: "No credentials, or a token that is unknown or belongs to an inactive user.",
    403: "Authenticated, but not allowed: `message` says which role or relation is needed.",
    404: "No such object (a malformed id in the path too).",
    409: "The request conflicts with the current state; `code` names the rule.",
    411: "A body whose length the server cannot tell.",
    413: "The body is over the size limit (1 MiB by default).",
    415: "The body is not JSON: send `Content-Type: application/json`.",
    429: "Over the rate limit of your token (or address): wait `Retry-After` seconds.",
    503: "The database is busy or unreachable; nothing was stored. Try again (see `Retry-After`).",
}

_ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}

# Headers some error answers carry, whichever operation gives them.
_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "schema": {"type": "string"},
            "description": "how to authenticate: `Token`",
        }
    },
    429: {
        "Retry-After": {
            "schema": {"type": "integer"},
            "description": "seconds until the limit's window ends",
        }
    },
    503: {
        "Retry-After": {
            "schema": {"type": "integer"},
            "description": "seconds to wait before trying again",
        }
    },
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error answers of a view's own rules, for `extend_schema(responses={200: X, **errors(403, 404)})`."""
    return {status: OpenApiResponse(response=_ERROR_REF, description=ERROR_MEANINGS[status]) for status in statuses}


def declare_field(serializer_class: type[Any], name: str, field: Any) -> None:
    """Give a serializer a field whose JSON name cannot be a class attribute: a Python keyword (`from`),
    or a name Serializer itself uses (`fields`). DRF builds each instance's fields from `_declared_fields`."""
    serializer_class._declared_fields[name] = field


def without_trailing_slash_twins(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """drf-spectacular preprocessing hook: every route also answers with a trailing slash (api_path);
    the schema documents each once, without it, as API.md writes them."""
    return [endpoint for endpoint in endpoints if not endpoint[0].endswith("/")]


def document_common_errors(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the error component, and the errors any operation can answer
    whatever its view does:

    - 401: every operation needs credentials (DEFAULT_PERMISSION_CLASSES);
    - 400, 411, 413, 415: an operation that reads a body (malformed JSON, no length, too large, not JSON);
    - 400: an operation with query parameters (a malformed value);
    - 404: an operation with an id in its path (an unknown or malformed id), or a page (`?page=` past the
      last page);
    - 429: every operation is rate-limited (lifecycle.core.api.throttling);
    - 503: every operation reads the database.
    """
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    error_content = {"application/json": {"schema": _ERROR_REF}}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            common = {401, 429, 503}
            if "requestBody" in operation:
                common |= {400, 411, 413, 415}
            parameters = operation.get("parameters", [])
            places = {parameter.get("in") for parameter in parameters}
            if "query" in places:
                common.add(400)
            if "path" in places or any(parameter.get("name") == "page" for parameter in parameters):
                common.add(404)
            responses = operation.setdefault("responses", {})
            for status in common:
                responses.setdefault(str(status), {"description": ERROR_MEANINGS[status], "content": error_content})
            for status, headers in _ERROR_HEADERS.items():
                if str(status) in responses:
                    responses[str(status)].setdefault("headers", {}).update(headers)
            operation["responses"] = dict(sorted(responses.items()))
    return result
