"""Render and resolve: what integrations call on every LLM request."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from lifecycle.core.exceptions import InvalidInput
from lifecycle.core.tokens.models import ApiToken
from lifecycle.releases.api.serializers import RenderInput, read_render_input
from lifecycle.releases.services import create_version_live_in_development as create_version
from lifecycle.testing.api import api_key_for
from lifecycle.testing.factories import TemplatePayloadFactory

pytestmark = pytest.mark.django_db


def render(api, template_id, variables=None, environment="development", **extra):
    body = {"environment": environment, "variables": variables or {}, **extra}
    return api.post(f"/api/templates/{template_id}/render", body)


def test_render__text_prompt__values_substituted_with_model_config(api, reader, create_template):
    template = create_template()
    response = render(api.as_user(reader), template.pk, {"inquiry": "How do I reset my password?"})
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "templateId": str(template.pk),
        "versionId": str(template.latest_version_id),
        "version": "1.0.0",
        "environment": "development",
        "rendered": "Please respond to the customer inquiry: How do I reset my password?",
        "modelConfig": {"model": "claude-sonnet", "temperature": 0.2, "maxTokens": 500},
    }


def test_render__chat_prompt__returns_rendered_messages(api, reader, create_template):
    template = create_template(
        content=None,
        messages=[{"role": "system", "content": "You work for {{company}}."}, {"role": "user", "content": "{{q}}"}],
        variables=[{"name": "company"}, {"name": "q"}],
    )
    body = render(api.as_user(reader), template.pk, {"company": "ACME", "q": "Hi"}).json()
    assert body["messages"] == [
        {"role": "system", "content": "You work for ACME."},
        {"role": "user", "content": "Hi"},
    ]
    assert "rendered" not in body


@pytest.mark.parametrize(
    "value",
    ["{{inquiry}}", "{{ other }}", "{% if 1 %}x{% endif %}", "${HOME} {0} %(x)s", "__import__('os').system('id')"],
)
def test_render__value_with_template_syntax__substituted_literally(api, reader, create_template, value):
    template = create_template()
    body = render(api.as_user(reader), template.pk, {"inquiry": value}).json()
    assert body["rendered"] == f"Please respond to the customer inquiry: {value}"


def test_render__non_string_values__rendered_as_json(api, reader, create_template):
    template = create_template(
        content="{{n}} {{flag}} {{items}} {{info}}",
        variables=[
            {"name": "n", "type": "number"},
            {"name": "flag", "type": "boolean"},
            {"name": "items", "type": "array"},
            {"name": "info", "type": "object"},
        ],
    )
    body = render(api.as_user(reader), template.pk, {"n": 2.5, "flag": True, "items": [1, "a"], "info": {"k": None}})
    assert body.json()["rendered"] == '2.5 true [1, "a"] {"k": null}'


def test_render__missing_required_variable__400_naming_it(api, reader, create_template):
    template = create_template()
    response = render(api.as_user(reader), template.pk, {})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"variables.inquiry": ["is required"]}
    assert "inquiry" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ({"name": "x", "type": "integer"}, 1.5, "must be of type integer, not number"),
        ({"name": "x", "type": "integer"}, True, "must be of type integer, not boolean"),
        ({"name": "x", "type": "string"}, 3, "must be of type string, not integer"),
        ({"name": "x", "type": "string", "enum": ["a", "b"]}, "c", 'must be one of ["a", "b"]'),
        ({"name": "x", "type": "string", "maxLength": 3}, "abcd", "must have at most 3 characters"),
        ({"name": "x", "type": "string", "pattern": "^[0-9]+$"}, "12a", "must match the pattern '^[0-9]+$'"),
        ({"name": "x", "type": "number", "minimum": 0}, -1, "must be at least 0"),
    ],
)
def test_render__value_breaks_a_rule__400_naming_the_variable(api, reader, create_template, variable, value, message):
    template = create_template(content="{{x}}", variables=[variable])
    response = render(api.as_user(reader), template.pk, {"x": value})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"variables.x": [message]}


def test_render__optional_variable__default_or_empty(api, reader, create_template):
    template = create_template(
        content="[{{a}}|{{b}}]",
        variables=[{"name": "a", "required": False, "default": "A"}, {"name": "b", "required": False}],
    )
    assert render(api.as_user(reader), template.pk).json()["rendered"] == "[A|]"
    assert render(api, template.pk, {"a": "x", "b": "y"}).json()["rendered"] == "[x|y]"


def test_render__nothing_active_in_production__404(api, reader, create_template):
    template = create_template()
    response = render(api.as_user(reader), template.pk, {"inquiry": "x"}, environment="production")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "nothing_active"


def test_render__environment_defaults_to_production(api, reader, create_template):
    template = create_template()
    response = api.as_user(reader).post(f"/api/templates/{template.pk}/render", {"variables": {"inquiry": "x"}})
    assert response.status_code == 404  # nothing is in production yet
    assert response.json()["error"]["code"] == "nothing_active"
    assert "production" in response.json()["error"]["message"]


def test_render__new_version__served_from_the_moment_it_is_created(api, reader, author, create_template):
    template = create_template()
    api.as_user(reader)
    assert render(api, template.pk, {"inquiry": "q"}).json()["version"] == "1.0.0"
    create_version(actor=author, template_id=template.pk, definition={"content": "New: {{inquiry}}"})
    body = render(api, template.pk, {"inquiry": "q"}).json()
    assert (body["version"], body["rendered"]) == ("1.0.1", "New: q")


def test_render__revoked_token__refused_at_once(api, reader, create_template):
    template = create_template()
    api.as_user(reader)
    assert render(api, template.pk, {"inquiry": "q"}).status_code == 200
    ApiToken.objects.filter(user=reader).update(revoked_at=timezone.now())
    assert render(api, template.pk, {"inquiry": "q"}).status_code == 401


def test_render__deactivated_user__refused_at_once(api, reader, create_template):
    template = create_template()
    api.as_user(reader)
    assert render(api, template.pk, {"inquiry": "q"}).status_code == 200
    get_user_model().objects.filter(pk=reader.pk).update(is_active=False)
    response = render(api, template.pk, {"inquiry": "q"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


@pytest.mark.parametrize(
    "body",
    [
        {"environment": "development", "variables": {"inquiry": "q"}},
        {"environment": "development", "variables": {}},
        {"environment": "production", "variables": {"inquiry": "q"}},
        {"environment": "nope"},
        {"environment": "development", "variables": ["q"]},
        {"environment": "development", "variables": {"inquiry": 5}},
        {"environment": "development", "variables": {"inquiry": "q"}, "subjectId": 7},
    ],
)
def test_render__session_user_and_token_user__same_answer(create_template, reader, body):
    """Token requests take the fast path and session requests DRF's: both must answer alike."""
    template = create_template()
    path = f"/api/templates/{template.pk}/render"
    by_token = APIClient()
    by_token.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(reader)}")
    by_session = APIClient(enforce_csrf_checks=False)
    by_session.force_login(reader)
    token_response = by_token.post(path, body, format="json")
    session_response = by_session.post(path, body, format="json")
    assert token_response.status_code == session_response.status_code
    assert token_response.json() == session_response.json()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"environment": "staging", "variables": {"a": 1}, "subjectId": "user-1"},
        {"environment": "qa"},
        {"variables": "x"},
        {"variables": None},
        {"subjectId": ""},
        {"subjectId": "x" * 201},
        {"subjectId": 3},
    ],
)
def test_read_render_input__agrees_with_the_documented_serializer(body):
    serializer = RenderInput(data=body)
    if serializer.is_valid():
        read = read_render_input(body)  # accepted too, with the same values and defaults
        assert read.environment == serializer.validated_data["environment"]
        assert read.variables == serializer.validated_data["variables"]
        assert read.subject_id == serializer.validated_data.get("subjectId")
    else:
        with pytest.raises(InvalidInput) as refused:
            read_render_input(body)
        assert set(refused.value.fields) == set(serializer.errors)


def test_render__one_query_however_many_versions_or_templates(
    api, reader, author, create_template, django_assert_num_queries
):
    # Given a template rendered once (its compiled version is now in memory)
    template = create_template()
    api.as_user(reader)
    render(api, template.pk, {"inquiry": "q"})
    # Then a render costs one query: the token and the active version, together
    with django_assert_num_queries(1):
        assert render(api, template.pk, {"inquiry": "q"}).status_code == 200
    # And still one after many more versions and templates
    for index in range(10):
        create_version(actor=author, template_id=template.pk, definition={"content": f"v{index} {{{{inquiry}}}}"})
        create_template(name=f"other {index}")
    render(api, template.pk, {"inquiry": "q"})
    with django_assert_num_queries(1):
        assert render(api, template.pk, {"inquiry": "q"}).json()["version"] == "1.0.10"


def test_render__active_version_lookup__uses_the_partial_unique_index_of_active_deployments(create_template):
    from lifecycle.core.db.lookups import uuid_param
    from lifecycle.releases.selectors import _active_version

    template = create_template()
    sql = _active_version.sql(connection)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql.replace('?', '%s')}", [uuid_param(template.pk), "production"])
            plan = " ".join(str(row) for row in cursor.fetchall())
            assert "INDEX one_active_deployment_per_environment" in plan, plan
        else:
            # As a template served for a while: many past deployments, one active. On a table of a few rows
            # PostgreSQL's planner may as well take the template's index and filter; here it must not.
            from lifecycle.releases.models import Deployment

            Deployment.objects.bulk_create(
                Deployment(
                    template=template, version=template.latest_version, environment=environment, state="superseded"
                )
                for environment in ("development", "staging", "production")
                for _ in range(200)
            )
            cursor.execute("ANALYZE releases_deployment")
            cursor.execute("SET enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", [uuid_param(template.pk), "production"])
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert "one_active_deployment_per_environment" in plan, plan
            assert "Seq Scan" not in plan, plan


def test_resolve__active_version_with_etag_and_revalidation(api, reader, author, create_template):
    template = create_template()
    api.as_user(reader)
    path = f"/api/templates/{template.pk}/resolve?environment=development"
    response = api.get(path)
    assert response.status_code == 200
    body = response.json()
    assert body["versionId"] == str(template.latest_version_id)
    assert body["content"] == TemplatePayloadFactory()["content"]
    assert body["variables"][0]["name"] == "inquiry"
    assert body["modelConfig"]["maxTokens"] == 500
    etag = response["ETag"]
    assert "no-cache" in response["Cache-Control"]

    # The same version again: 304, no body
    again = api.get(path, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag

    # A new version: a new ETag, and the old one no longer matches
    create_version(actor=author, template_id=template.pk, definition={"content": "New {{inquiry}}"})
    changed = api.get(path, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert changed.json()["version"] == "1.0.1"


def test_resolve__etag_differs_per_environment_and_list_and_weak_forms_match(api, reader, create_template):
    template = create_template()
    api.as_user(reader)
    etag = api.get(f"/api/templates/{template.pk}/resolve?environment=development")["ETag"]
    path = f"/api/templates/{template.pk}/resolve?environment=development"
    assert api.get(path, HTTP_IF_NONE_MATCH=f'"other", W/{etag}').status_code == 304
    assert api.get(path, HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_resolve__nothing_active__404(api, reader, create_template):
    template = create_template()
    assert api.as_user(reader).get(f"/api/templates/{template.pk}/resolve").status_code == 404


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"environment": "development", "variables": {"inquiry": "\\ud800"}}', 400),
        (b'{"environment": "development", "variables": {"inquiry": "a\\u0000"}}', 400),
        (b'{"environment": "development", "variables": {"inquiry": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}", 400),
        (b'{"environment": "development", "variables": {"inquiry": 1' + b"0" * 400 + b"}}", 400),
        (b'{"environment": "development", "variables": {"inquiry": "\\ud83d\\ude00 ok"}}', 200),
    ],
    ids=["surrogate", "nul", "deep", "huge-int", "emoji-pair"],
)
def test_render__odd_json_values__4xx_or_rendered_never_500(api, reader, create_template, raw, status):
    template = create_template()
    response = api.as_user(reader).raw("POST", f"/api/templates/{template.pk}/render", raw)
    assert response.status_code == status, response.content
    if status == 200:
        assert response.json()["rendered"].endswith("\U0001f600 ok")


def test_render__huge_integer_for_a_number_variable__checked_not_crashed(api, reader, create_template):
    template = create_template(content="{{n}}", variables=[{"name": "n", "type": "number", "maximum": 1000}])
    response = api.as_user(reader).raw(
        "POST",
        f"/api/templates/{template.pk}/render",
        b'{"environment": "development", "variables": {"n": 1' + b"0" * 400 + b"}}",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"variables.n": ["must be at most 1000"]}


def test_render_and_resolve__answers_have_the_documented_keys(api, reader, create_template):
    """The bodies are built by hand for speed; the schema documents them with serializers: keep them one."""
    from lifecycle.releases.api.serializers import RenderOutput, ResolveOutput

    template = create_template()
    api.as_user(reader)
    rendered = render(api, template.pk, {"inquiry": "q"}).json()
    assert set(rendered) <= set(RenderOutput().fields)
    # A text prompt (`rendered`, not `messages`), with no A/B test running (no abTestId, no variantId)
    assert set(RenderOutput().fields) - set(rendered) == {"messages", "abTestId", "variantId"}
    resolved = api.get(f"/api/templates/{template.pk}/resolve?environment=development").json()
    assert set(resolved) == set(ResolveOutput().fields)


def test_fast_path__a_view_with_other_permissions__refused_at_import():
    from django.core.exceptions import ImproperlyConfigured
    from rest_framework.permissions import IsAdminUser
    from rest_framework.views import APIView

    from lifecycle.core.api.fastpath import FastPathMixin

    with pytest.raises(ImproperlyConfigured):

        class AdminsOnly(FastPathMixin, APIView):
            permission_classes = [IsAdminUser]
