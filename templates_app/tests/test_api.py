"""The endpoints of templates_app itself: a version's diff. (Creating and showing templates and versions is
served by lifecycle.releases: its tests/test_authoring_api.py.)"""

from __future__ import annotations

import pytest

from lifecycle.testing.api import create_template_over_api as create
from lifecycle.testing.api import create_version_over_api as new_version

pytestmark = pytest.mark.django_db


def test_diff__default_against_previous__unified_diff_and_variable_changes(api, author, reader):
    created = create(api, author)
    variables = [*created["variables"], {"name": "tone", "type": "string", "required": False}]
    v2 = new_version(api, author, created["id"], content="Please answer: {{inquiry}} {{tone}}", variables=variables)
    body = api.as_user(reader).get(f"/api/versions/{v2.json()['id']}/diff").json()
    assert body["againstVersion"] == "1.0.0"
    assert "-Please respond to the customer inquiry: {{inquiry}}" in body["diff"]
    assert "+Please answer: {{inquiry}} {{tone}}" in body["diff"]
    assert [v["name"] for v in body["variables"]["added"]] == ["tone"]
    assert body["variables"]["removed"] == []


def test_diff__against_given_version(api, author, reader):
    created = create(api, author)
    v2 = new_version(api, author, created["id"], content="Two {{inquiry}}").json()
    v3 = new_version(api, author, created["id"], content="Three {{inquiry}}").json()
    body = api.as_user(reader).get(f"/api/versions/{v3['id']}/diff?against={created['latestVersion']['id']}").json()
    assert body["againstVersion"] == "1.0.0"
    assert "+Three {{inquiry}}" in body["diff"]
    body = api.as_user(reader).get(f"/api/versions/{v3['id']}/diff").json()
    assert body["againstVersionId"] == v2["id"]


def test_diff__first_version__against_nothing(api, author, reader):
    created = create(api, author)
    body = api.as_user(reader).get(f"/api/versions/{created['latestVersion']['id']}/diff").json()
    assert body["againstVersionId"] is None
    assert "+Please respond" in body["diff"]


def test_diff__against_version_of_other_template__400(api, author, reader):
    one, other = create(api, author), create(api, author)
    response = api.as_user(reader).get(
        f"/api/versions/{one['latestVersion']['id']}/diff?against={other['latestVersion']['id']}"
    )
    assert response.status_code == 400
    assert "against" in response.json()["error"]["fields"]


def test_diff__malformed_against__400(api, author, reader):
    created = create(api, author)
    response = api.as_user(reader).get(f"/api/versions/{created['latestVersion']['id']}/diff?against=xyz")
    assert response.status_code == 400
