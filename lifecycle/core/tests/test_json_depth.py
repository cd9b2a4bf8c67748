"""The nesting limit holds for every JSON body the API and the admin read, not only for some of them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django import forms
from django.test import Client

from lifecycle.core import strict_json
from lifecycle.core.forms import StrictJSONFormField
from lifecycle.core.strict_json import MAX_DEPTH
from lifecycle.testing.factories import TemplatePayloadFactory
from templates_app.models import PromptTemplate


def nested(levels: int) -> Any:
    """A JSON value of exactly `levels` containers one inside the other (objects and arrays alternating)."""
    value: Any = "bottom"
    for level in range(levels):
        value = {"k": value} if level % 2 else [value]
    return value


def depth_of(value: Any) -> int:
    """Containers on the longest path from `value` down (an independent count, for the tests' own bodies)."""
    if isinstance(value, dict):
        return 1 + max((depth_of(child) for child in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(child) for child in value), default=0)
    return 0


@pytest.fixture
def superuser(make_user):
    return make_user(superuser=True, username="root")


def _too_deep_bodies(version_id: str, template_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(path, body) for each endpoint, every body otherwise valid and nested exactly MAX_DEPTH + 1 deep."""
    execution = {"templateVersionId": version_id, "status": "success", "responseTime": 10}
    bodies = [
        ("/api/templates", TemplatePayloadFactory(metadata={"deep": nested(MAX_DEPTH - 1)})),
        ("/api/versions/create", {"templateId": template_id, "data": {"metadata": {"deep": nested(MAX_DEPTH - 2)}}}),
        ("/api/executions", {**execution, "input": nested(MAX_DEPTH)}),
        ("/api/executions/batch", {"executions": [{**execution, "input": nested(MAX_DEPTH - 2)}]}),
        (
            f"/api/templates/{template_id}/render",
            {"environment": "development", "variables": {"inquiry": "x", "deep": nested(MAX_DEPTH - 1)}},
        ),
    ]
    for _, body in bodies:
        assert depth_of(body) == MAX_DEPTH + 1
    return bodies


@pytest.mark.parametrize("endpoint", range(5), ids=["templates", "versions", "execution", "batch", "render"])
def test_write__body_nested_one_level_past_the_limit__400_naming_the_nesting(api, superuser, create_template, endpoint):
    # Given a body nested one level deeper than the limit, with no \u escape anywhere in it
    template = create_template()
    path, body = _too_deep_bodies(str(template.latest_version.pk), str(template.pk))[endpoint]
    raw = json.dumps(body).encode()
    assert b"\\u" not in raw
    counts = (PromptTemplate.objects.count(), template.versions.count())
    # When it is posted
    response = api.as_user(superuser).raw("POST", path, raw)
    # Then it is refused as malformed, saying why, and nothing is stored
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "malformed_request"
    assert f"nested more than {MAX_DEPTH} levels deep" in error["message"]
    assert (PromptTemplate.objects.count(), template.versions.count()) == counts


def test_create_template__metadata_nested_exactly_to_the_limit__stored_and_admin_page_renders(api, superuser):
    # Given a template whose metadata makes the body exactly MAX_DEPTH deep
    payload = TemplatePayloadFactory(metadata={"deep": nested(MAX_DEPTH - 2)})
    assert depth_of(payload) == MAX_DEPTH
    # When it is created
    response = api.as_user(superuser).post("/api/templates", payload)
    # Then it is stored as sent
    assert response.status_code == 201, response.content
    template = PromptTemplate.objects.get(pk=response.json()["id"])
    assert template.metadata == payload["metadata"]
    # And its admin page renders for a superuser
    client = Client()
    client.force_login(superuser)
    page = client.get(f"/admin/templates_app/prompttemplate/{template.pk}/change/")
    assert page.status_code == 200
    assert b"bottom" in page.content


def test_admin_change_template__metadata_past_the_limit__form_error_and_nothing_changed(superuser, create_template):
    # Given a template, and a reviewer in its admin page
    template = create_template()
    client = Client()
    client.force_login(superuser)
    # When they save metadata nested past the limit
    response = client.post(
        f"/admin/templates_app/prompttemplate/{template.pk}/change/",
        {
            "name": template.name,
            "description": "changed",
            "category": template.category,
            "tags": "",
            "metadata": json.dumps(nested(MAX_DEPTH + 1)),
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    # Then the form shows why, and nothing is saved
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["metadata"] == [
        f"Enter a valid JSON. The JSON is nested more than {MAX_DEPTH} levels deep."
    ]
    template.refresh_from_db()
    assert template.description != "changed"


class _MetadataForm(forms.Form):
    metadata = StrictJSONFormField(required=False)


@pytest.mark.parametrize(("levels", "valid"), [(MAX_DEPTH, True), (MAX_DEPTH + 1, False), (900, False)])
def test_admin_json_field__nesting__accepted_up_to_the_limit_and_refused_past_it(levels, valid):
    # Given text nested `levels` deep
    form = _MetadataForm({"metadata": json.dumps(nested(levels))})
    # When the form is validated
    # Then it is valid up to the limit, and past it the field says why
    assert form.is_valid() is valid
    if not valid:
        assert form.errors["metadata"] == [f"Enter a valid JSON. The JSON is nested more than {MAX_DEPTH} levels deep."]


@pytest.mark.parametrize(
    ("text", "levels"),
    [
        ("[" * MAX_DEPTH + "]" * MAX_DEPTH, MAX_DEPTH),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), MAX_DEPTH + 1),
        ('{"a":' * MAX_DEPTH + "1" + "}" * MAX_DEPTH, MAX_DEPTH),
        ('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1), MAX_DEPTH + 1),
        (json.dumps(nested(MAX_DEPTH + 1)), MAX_DEPTH + 1),
        # Brackets inside strings are not nesting
        (json.dumps({"text": "[[[[{{{{" * 40, "x": nested(MAX_DEPTH - 1)}), MAX_DEPTH),
        # Many shallow rows: far more brackets than the limit, little depth
        (json.dumps({"executions": [{"input": {"a": [1, 2]}} for _ in range(500)]}), 5),
        # Long texts (past what is worth counting brackets in) are held to the same limit
        (json.dumps({"pad": "x" * 100_000, "x": nested(MAX_DEPTH - 1)}), MAX_DEPTH),
        (json.dumps({"pad": "x" * 100_000, "x": nested(MAX_DEPTH)}), MAX_DEPTH + 1),
    ],
    ids=["arrays", "arrays+1", "objects", "objects+1", "mixed+1", "brackets-in-strings", "wide", "long", "long+1"],
)
def test_loads__nesting__limit_holds_without_any_escape_in_the_text(text, levels):
    # Given JSON text `levels` deep (by an independent count), with no \u escape
    assert depth_of(json.loads(text)) == levels
    assert "\\u" not in text
    # When it is read
    # Then it is accepted up to the limit, and refused past it
    if levels <= MAX_DEPTH:
        assert strict_json.loads(text) == json.loads(text)
    else:
        with pytest.raises(strict_json.JSONRejected, match=f"nested more than {MAX_DEPTH} levels deep"):
            strict_json.loads(text)
