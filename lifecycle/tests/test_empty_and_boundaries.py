"""Every list and query endpoint beyond analytics (whose boundaries are analytics/tests/test_boundaries.py)
on empty data and at its edges: the documented shape, never a 500."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

EMPTY_PAGE = {"count": 0, "next": None, "previous": None, "results": []}


def test_templates__none_yet__an_empty_page(api, reader):
    assert api.as_user(reader).get("/api/templates").json() == EMPTY_PAGE


def test_templates__filters_matching_nothing__an_empty_page(api, reader, create_template):
    create_template(name="Something")
    for query in ("search=nothing-like-it", "tag=no-such-tag", "category=translation"):
        assert api.as_user(reader).get(f"/api/templates?{query}").json() == EMPTY_PAGE, query


@pytest.mark.parametrize("page", ["2", "0", "-1", "x", "", "99999999999999999999"])
def test_templates__page_past_the_end_or_not_a_page__404_json(api, reader, create_template, page):
    create_template()
    response = api.as_user(reader).get(f"/api/templates?page={page}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(("size", "shown"), [("1", 1), ("2", 2), ("200", 3)])
def test_templates__page_size_within_its_range__pages_of_that_size(api, reader, create_template, size, shown):
    for _ in range(3):
        create_template()
    body = api.as_user(reader).get(f"/api/templates?pageSize={size}").json()
    assert (body["count"], len(body["results"])) == (3, shown)


@pytest.mark.parametrize("size", ["0", "-5", "x", "201", "1.5", ""])
def test_templates__page_size_outside_its_range__400_naming_it(api, reader, size):
    response = api.as_user(reader).get(f"/api/templates?pageSize={size}")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["pageSize"]


def test_review_queue__nothing_waiting__an_empty_page(api, reviewers):
    assert api.as_user(reviewers["qa"]).get("/api/approval/pending").json() == EMPTY_PAGE


def test_history__a_new_template__its_creation_and_first_version_only(api, reader, create_template):
    template = create_template()
    entries = api.as_user(reader).get(f"/api/templates/{template.pk}/history").json()["results"]
    assert [(entry["subject"], entry["action"]) for entry in entries] == [
        ("deployment", "created"),
        ("version", "created"),
        ("template", "created"),
    ]


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_resolve_and_render__nothing_active_there__404_nothing_active(api, reader, create_template, environment):
    template = create_template()
    resolved = api.as_user(reader).get(f"/api/templates/{template.pk}/resolve?environment={environment}")
    rendered = api.as_user(reader).post(
        f"/api/templates/{template.pk}/render", {"environment": environment, "variables": {"inquiry": "q"}}
    )
    assert (resolved.status_code, rendered.status_code) == (404, 404)
    assert resolved.json()["error"]["code"] == rendered.json()["error"]["code"] == "nothing_active"


def test_template_detail__nothing_beyond_development__null_there(api, reader, create_template):
    template = create_template()
    active = api.as_user(reader).get(f"/api/templates/{template.pk}").json()["activeVersions"]
    assert (active["staging"], active["production"]) == (None, None)
    assert active["development"]["version"] == "1.0.0"


def test_diff__a_first_version__against_nothing(api, reader, create_template):
    version = create_template().latest_version
    body = api.as_user(reader).get(f"/api/versions/{version.pk}/diff").json()
    assert (body["againstVersionId"], body["modelConfig"], body["provider"], body["changes"]) == (None, None, None, [])


def test_templates__empty_category__400_naming_it(api, reader):
    response = api.as_user(reader).get("/api/templates?category=")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["category"]
