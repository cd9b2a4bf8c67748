"""Bad input of every kind gets a 4xx with the JSON error shape of API.md, and changes nothing."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from lifecycle.testing.factories import TemplatePayloadFactory
from templates_app.models import PromptTemplate, TemplateVersion

WRITES = [
    ("POST", "/api/templates"),
    ("POST", "/api/versions/create"),
]


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["code"], str)
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.fixture
def nothing_written(db):
    """Asserts, after the test, that no template or version was written."""
    before = (PromptTemplate.objects.count(), TemplateVersion.objects.count())
    yield
    assert (PromptTemplate.objects.count(), TemplateVersion.objects.count()) == before


@pytest.mark.parametrize(("method", "path"), WRITES)
@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        (b'{"name": "x",', "malformed_request", "Malformed JSON"),
        (b"\xff\xfe{}", "malformed_request", "UTF-8"),
        (b"[1, 2]", "malformed_request", "not an array"),
        (b'"just a string"', "malformed_request", "not a string"),
        (b"null", "malformed_request", "not null"),
        (b'{"name": NaN}', "malformed_request", "holds NaN"),
        (b'{"name": "x", "metadata": {"tokens": 1e400}}', "malformed_request", "too large"),
        (b'{"name": "x", "metadata": {"n": ' + b"9" * 5000 + b"}}", "malformed_request", "too long"),
        (b'{"name": "\\ud800"}', "malformed_request", "unpaired UTF-16 surrogate"),
        (b'{"name": "x", "content": "a\\u0000b"}', "malformed_request", "NUL character"),
        (
            b'{"name": "x", "metadata": {"deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
            "malformed_request",
            "nested",
        ),
    ],
    ids=[
        "truncated",
        "not-utf8",
        "array",
        "string",
        "null",
        "nan",
        "1e400",
        "huge-int",
        "surrogate",
        "nul",
        "very-deep",
    ],
)
def test_write__body_not_acceptable_json__400_and_nothing_written(
    api, author, nothing_written, method, path, body, code, fragment
):
    response = api.as_user(author).raw(method, path, body)
    error = assert_error(response, 400, code)
    assert fragment in error["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", None),
        ("name", 42),
        ("name", ["a"]),
        ("description", 7),
        ("category", "poetry"),
        ("tags", "support"),
        ("tags", [1, 2]),
        ("metadata", "v1"),
        ("metadata", {"estimatedTokens": "many"}),
        ("metadata", {"version": "1.0"}),
        ("content", 12),
        ("content", ""),
        ("variables", {"name": "inquiry"}),
        ("variables", [{"name": "inquiry", "type": "text"}]),
        ("variables", [{"name": "inquiry", "required": "yes"}]),
        ("modelConfig", [1]),
        ("modelConfig", {"temperature": "hot"}),
        ("provider", 3),
    ],
)
def test_create_template__wrong_typed_or_null_field__400_naming_it(api, author, nothing_written, field, value):
    response = api.as_user(author).post("/api/templates", TemplatePayloadFactory(**{field: value}))
    error = assert_error(response, 400, "invalid")
    assert any(path == field or path.startswith((f"{field}.", f"{field}[")) for path in error["fields"]), error


def test_write__body_over_the_size_limit__413(api, author, nothing_written):
    huge = TemplatePayloadFactory(description="x" * (1024 * 1024))
    response = api.as_user(author).raw("POST", "/api/templates", json.dumps(huge).encode())
    assert_error(response, 413, "payload_too_large")


@override_settings(MAX_REQUEST_BODY_BYTES=2048)
def test_write__limit_is_configurable__413_just_above_it(api, author):
    small = TemplatePayloadFactory(description="x" * 100)
    assert api.as_user(author).post("/api/templates", small).status_code == 201
    big = TemplatePayloadFactory(name="another", description="x" * 2100)
    assert_error(api.as_user(author).post("/api/templates", big), 413, "payload_too_large")
    assert PromptTemplate.objects.count() == 1


def test_render__body_over_the_size_limit__413(api, author, create_template):
    template = create_template()
    body = json.dumps({"environment": "development", "variables": {"inquiry": "x" * (1024 * 1024)}}).encode()
    response = api.as_user(author).raw("POST", f"/api/templates/{template.pk}/render", body)
    assert_error(response, 413, "payload_too_large")


def test_write__form_encoded_body__415_saying_to_send_json(api, author, nothing_written):
    response = api.as_user(author).raw("POST", "/api/templates", b"name=x", "application/x-www-form-urlencoded")
    error = assert_error(response, 415, "unsupported_media_type")
    assert "application/json" in error["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/templates/not-a-uuid",
        "/api/templates/12345",
        "/api/templates/00000000-0000-0000-0000-000000000000",
        "/api/versions/not-a-uuid",
        "/api/versions/00000000-0000-0000-0000-000000000000",
        "/api/versions/00000000-0000-0000-0000-000000000000/diff",
        "/api/templates/00000000-0000-0000-0000-000000000000/history",
        "/api/templates/00000000-0000-0000-0000-000000000000/resolve",
        "/api/nothing-here",
    ],
)
def test_get__malformed_or_unknown_id__404_json(api, reader, path):
    assert_error(api.as_user(reader).get(path), 404)


def test_render__unknown_template__404_json(api, reader):
    response = api.as_user(reader).post(
        "/api/templates/00000000-0000-0000-0000-000000000000/render", {"environment": "production"}
    )
    assert_error(response, 404, "nothing_active")


@pytest.mark.parametrize("environment", ["prod", "", 3, None])
def test_render__unknown_environment__400(api, reader, create_template, environment):
    template = create_template()
    response = api.as_user(reader).post(
        f"/api/templates/{template.pk}/render", {"environment": environment, "variables": {"inquiry": "hi"}}
    )
    error = assert_error(response, 400, "invalid")
    assert "environment" in error["fields"]


def test_resolve__unknown_environment__400(api, reader, create_template):
    template = create_template()
    error = assert_error(api.as_user(reader).get(f"/api/templates/{template.pk}/resolve?environment=qa"), 400)
    assert "environment" in error["fields"]


def test_deploy__unknown_environment__400(api, author, create_template):
    template = create_template()
    response = api.as_user(author).put(f"/api/versions/{template.latest_version_id}/deploy", {"environment": "moon"})
    error = assert_error(response, 400, "invalid")
    assert "environment" in error["fields"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/templates"),
        ("POST", "/api/templates"),
        ("POST", "/api/versions/create"),
        ("GET", "/api/versions/00000000-0000-0000-0000-000000000000"),
        ("POST", "/api/templates/00000000-0000-0000-0000-000000000000/render"),
        ("GET", "/api/templates/00000000-0000-0000-0000-000000000000/resolve"),
        ("PUT", "/api/versions/00000000-0000-0000-0000-000000000000/deploy"),
    ],
)
def test_any_endpoint__no_token__401_with_challenge(api, nothing_written, method, path):
    response = api.anonymous().raw(method, path, b"{}")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("header", ["Token wrong", "Token ", "Token a b", "Bearer abc"])
def test_render__bad_token__401(api, create_template, header, reader):
    template = create_template()
    api.client.credentials(HTTP_AUTHORIZATION=header)
    response = api.post(f"/api/templates/{template.pk}/render", {"environment": "development"})
    assert response.status_code == 401
    assert set(response.json()) == {"error"}


def test_method_not_allowed__405_json(api, reader):
    assert_error(api.as_user(reader).raw("DELETE", "/api/templates", b""), 405, "method_not_allowed")


def test_database_busy__503_with_retry_after_and_nothing_written(api, author, nothing_written, monkeypatch):
    from django.db import OperationalError

    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr("templates_app.services._save_template", locked)
    response = api.as_user(author).post("/api/templates", TemplatePayloadFactory())
    assert_error(response, 503, "unavailable")
    assert response["Retry-After"] == "1"
