"""The OpenAPI schema integrations generate clients from: every answer described, the one error shape."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    GENERATOR_STATS.reset()
    generated = SchemaGenerator().get_schema(request=None, public=True)
    assert not GENERATOR_STATS._warn_cache, list(GENERATOR_STATS._warn_cache)
    assert not GENERATOR_STATS._error_cache, list(GENERATOR_STATS._error_cache)
    return generated


def _operations(schema: dict[str, Any]):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", operation


def test_schema__every_operation__documents_its_errors_with_the_one_error_shape(schema):
    for name, operation in _operations(schema):
        statuses = {int(status) for status in operation["responses"]}
        assert {401, 503} <= statuses, name
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                body = response["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/Error"}, (name, status)
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message"]


def test_schema__every_success_answer__is_described_field_by_field(schema):
    # A free-form object ({"type": "object"} with nothing else) would let any answer conform.
    for name, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if not 200 <= int(status) < 300 or "content" not in response:
                continue
            body = response["content"]["application/json"]["schema"]
            assert "$ref" in body or body.get("properties") or body.get("items"), (name, status, body)


def test_schema__bodies_with_ids_in_paths__404_documented(schema):
    for name, operation in _operations(schema):
        if any(parameter["in"] == "path" for parameter in operation.get("parameters", [])):
            assert "404" in operation["responses"], name


def test_docs_page__says_who_may_do_what_as_the_readme_does(schema):
    import re
    from pathlib import Path

    def rules(text: str) -> str:
        return re.search(r"\| what \| who \|\n\|---\|---\|\n(?:\|.*\|\n)+", text).group(0)

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert rules(schema["info"]["description"]) == rules(readme)
