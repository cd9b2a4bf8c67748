"""GET /api/templates/bundle: what a client that renders by itself polls (issue 16): the templates it uses,
what each serves and tests in an environment, those versions in promptrender's wire format, and a 304 until
something it uses has changed."""

from __future__ import annotations

from typing import Any

import pytest
from promptrender.rendering import RenderPlan
from promptrender.serving import LiveTest, ServedVariant, TestVariants, result_json, what_to_serve

from abtesting.services import create_test, pause_test, start_test
from lifecycle.releases.bundles import MAX_BUNDLE_TEMPLATES
from lifecycle.releases.services import create_version_live_in_development, deploy_version, initiate_rollback
from lifecycle.testing.workflow import approve_for

pytestmark = pytest.mark.django_db

BUNDLE = "/api/templates/bundle"


def bundle_path(*references: str, environment: str = "production") -> str:
    from urllib.parse import urlencode

    return f"{BUNDLE}?{urlencode([('environment', environment), *(('template', r) for r in references)])}"


@pytest.fixture
def in_production(create_template, author, reviewers, deployer) -> dict[str, Any]:
    """A template with 1.0.0 in production and 1.0.1 approved for it (not deployed)."""
    template = create_template(name="Support Reply")
    first = template.latest_version
    second = create_version_live_in_development(
        actor=author, template_id=template.pk, definition={"content": "Answer kindly: {{inquiry}}"}
    )
    for version in (first, second):
        approve_for(version, "production", reviewers)
    deploy_version(actor=deployer, version_id=first.pk, environment="production")
    return {"template": template, "first": first, "second": second}


def local_render(body: dict[str, Any], reference: str, values: dict[str, Any], subject: str | None = None) -> Any:
    """What a client renders from the bundle, with promptrender: the same rule and renderer as the server."""
    entry = next(entry for entry in body["templates"] if entry["reference"] == reference)
    live = None
    if entry["abTest"] is not None:
        test = entry["abTest"]
        variants = TestVariants(
            test["id"],
            tuple(ServedVariant(v["id"], v["versionId"], v["control"]) for v in test["variants"]),
            tuple(v["trafficPercentage"] for v in test["variants"]),
        )
        live = LiveTest(variants, running=test["running"])
    served = what_to_serve(entry["activeVersionId"], live, subject)
    plan = RenderPlan.from_json(body["versions"][str(served.version_id)])
    return result_json(plan, body["environment"], plan.render(values), served.test_id, served.variant_key)


def test_bundle__by_id_and_by_name__what_each_serves_and_the_unknown_listed(api, reader, in_production):
    template = in_production["template"]
    # When a client asks for the template by id, by its name in another case, and an unknown one
    response = api.as_user(reader).get(bundle_path(str(template.pk), "support reply", "No Such Template"))
    # Then both references name it, with what production serves; the unknown one is listed, not an error
    assert response.status_code == 200, response.json()
    body = response.json()
    assert [entry["reference"] for entry in body["templates"]] == [str(template.pk), "support reply"]
    assert {entry["activeVersionId"] for entry in body["templates"]} == {str(in_production["first"].pk)}
    assert body["templates"][0]["name"] == "Support Reply"
    assert body["templates"][0]["abTest"] is None
    assert list(body["versions"]) == [str(in_production["first"].pk)]
    assert body["missing"] == ["No Such Template"]
    assert response["ETag"].startswith('"')
    assert "no-cache" in response["Cache-Control"]


def test_bundle__rendered_from_it__same_answer_as_render(api, reader, in_production):
    template = in_production["template"]
    api.as_user(reader)
    body = api.get(bundle_path(str(template.pk))).json()
    values = {"inquiry": "Where is {{my}} order?"}
    served = api.post(f"/api/templates/{template.pk}/render", {"environment": "production", "variables": values})
    assert local_render(body, str(template.pk), values) == served.json()


def test_bundle__unchanged__304_until_a_deploy_or_a_rollback(api, reader, deployer, in_production):
    template, first, second = in_production["template"], in_production["first"], in_production["second"]
    api.as_user(reader)
    path = bundle_path(str(template.pk))
    etag = api.get(path)["ETag"]
    # Nothing changed: 304 and no body
    again = api.get(path, HTTP_IF_NONE_MATCH=etag)
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", etag)
    # A new version, live in development only: production's bundle has not changed
    create_version_live_in_development(
        actor=in_production["template"].created_by, template_id=template.pk, definition={"content": "Dev {{inquiry}}"}
    )
    assert api.get(path, HTTP_IF_NONE_MATCH=etag).status_code == 304
    # A deploy to production: a new bundle, serving 1.0.1
    deploy_version(actor=deployer, version_id=second.pk, environment="production")
    deployed = api.get(path, HTTP_IF_NONE_MATCH=etag)
    assert deployed.status_code == 200
    assert deployed.json()["templates"][0]["activeVersionId"] == str(second.pk)
    # A rollback: 1.0.0 again, the bundle as it was, under its tag again (a tag names a body)
    initiate_rollback(actor=deployer, current_version_id=second.pk, target_version_id=first.pk, reason="bad answers")
    rolled_back = api.get(path, HTTP_IF_NONE_MATCH=deployed["ETag"])
    assert rolled_back.status_code == 200
    assert rolled_back.json()["templates"][0]["activeVersionId"] == str(first.pk)
    assert rolled_back["ETag"] == etag != deployed["ETag"]


def test_bundle__ab_test__its_variants_and_each_subject_served_as_render_serves_it(
    api, reader, make_user, in_production
):
    template, first, second = in_production["template"], in_production["first"], in_production["second"]
    runner = make_user("deployer")
    test = create_test(
        actor=template.created_by,
        name="Kinder",
        template_id=template.pk,
        variants=[
            {"id": "control", "template_version_id": first.pk, "traffic_percentage": 50},
            {"id": "variant-a", "template_version_id": second.pk, "traffic_percentage": 50},
        ],
    )
    api.as_user(reader)
    path = bundle_path(str(template.pk))
    before = api.get(path)["ETag"]
    start_test(actor=runner, test_id=test.pk)
    response = api.get(path, HTTP_IF_NONE_MATCH=before)
    assert response.status_code == 200
    body = response.json()
    assert body["templates"][0]["abTest"] == {
        "id": str(test.pk),
        "running": True,
        "variants": [
            {"id": "control", "versionId": str(first.pk), "trafficPercentage": 50.0, "control": True},
            {"id": "variant-a", "versionId": str(second.pk), "trafficPercentage": 50.0, "control": False},
        ],
    }
    assert set(body["versions"]) == {str(first.pk), str(second.pk)}
    # Every subject is served the same variant from the bundle as by render
    values = {"inquiry": "Hi"}
    for number in range(40):
        subject = f"user-{number}"
        served = api.post(
            f"/api/templates/{template.pk}/render",
            {"environment": "production", "variables": values, "subjectId": subject},
        ).json()
        assert local_render(body, str(template.pk), values, subject) == served
    # Paused: the bundle says so (every subject is served the control)
    pause_test(actor=runner, test_id=test.pk)
    paused = api.get(path, HTTP_IF_NONE_MATCH=response["ETag"]).json()
    assert paused["templates"][0]["abTest"]["running"] is False
    assert local_render(paused, str(template.pk), values, "user-1")["variantId"] == "control"


def test_bundle__nothing_active_there__null_and_no_version(api, reader, create_template):
    template = create_template()  # live in development only
    body = api.as_user(reader).get(bundle_path(str(template.pk), environment="staging")).json()
    assert body["templates"][0]["activeVersionId"] is None
    assert body["versions"] == {}


def test_bundle__only_unknown_templates__empty_and_listed(api, reader):
    body = api.as_user(reader).get(bundle_path("nope", "00000000-0000-0000-0000-000000000000")).json()
    assert body["templates"] == []
    assert body["missing"] == ["nope", "00000000-0000-0000-0000-000000000000"]


def test_bundle__same_reference_twice__once(api, reader, in_production):
    body = api.as_user(reader).get(bundle_path("Support Reply", "Support Reply")).json()
    assert len(body["templates"]) == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("environment=production", "template"),
        ("template=x&environment=nowhere", "environment"),
        ("&".join(["template=x"] * (MAX_BUNDLE_TEMPLATES + 1)), "template"),
        ("template=" + "x" * 201, "template"),
    ],
)
def test_bundle__bad_query__400_naming_the_field(api, reader, query, field):
    response = api.as_user(reader).get(f"{BUNDLE}?{query}")
    assert response.status_code == 400
    assert any(key.startswith(field) for key in response.json()["error"]["fields"]), response.json()


def test_bundle__anonymous__401(api):
    assert api.anonymous().get(bundle_path("x")).status_code == 401


def test_bundle_set__many_templates_registered_once__then_polled_by_id(api, reader, deployer, in_production):
    template, second = in_production["template"], in_production["second"]
    api.as_user(reader)
    # Given a client using more templates than a URL can name (here: one real, 599 unknown)
    references = [str(template.pk), *(f"Unknown template number {n}" for n in range(599))]
    registered = api.post(BUNDLE, {"templates": references, "environment": "production"})
    assert registered.status_code == 200, registered.json()
    body = registered.json()
    set_id = body["setId"]
    assert registered["Location"] == f"{BUNDLE}/{set_id}"
    assert [entry["templateId"] for entry in body["templates"]] == [str(template.pk)]
    assert len(body["missing"]) == 599
    # Then its refreshes are short conditional GETs: 304 while nothing changed
    polled = api.get(f"{BUNDLE}/{set_id}")
    assert polled.status_code == 200
    assert polled.json() == body
    assert polled["ETag"] == registered["ETag"]
    assert api.get(f"{BUNDLE}/{set_id}", HTTP_IF_NONE_MATCH=polled["ETag"]).status_code == 304
    # and the bundle once a deploy changed it
    deploy_version(actor=deployer, version_id=second.pk, environment="production")
    changed = api.get(f"{BUNDLE}/{set_id}", HTTP_IF_NONE_MATCH=polled["ETag"])
    assert changed.status_code == 200
    assert changed.json()["templates"][0]["activeVersionId"] == str(second.pk)
    # The same set, registered by another client, is the same set
    again = api.post(BUNDLE, {"templates": references, "environment": "production"}).json()
    assert again["setId"] == set_id


def test_bundle_set__unknown_id__404_saying_to_register_again(api, reader):
    response = api.as_user(reader).get(f"{BUNDLE}/{'0' * 64}")
    assert response.status_code == 404
    assert "register it again" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"templates": []}, "templates"),
        ({"templates": ["x"] * 2001}, "templates"),
        ({"templates": ["x" * 201]}, "templates"),
        ({"templates": ["x"], "environment": "moon"}, "environment"),
        ({"templates": "x"}, "templates"),
    ],
)
def test_bundle_set__bad_body__400_naming_the_field(api, reader, body, field):
    response = api.as_user(reader).post(BUNDLE, body)
    assert response.status_code == 400
    assert any(key.startswith(field) for key in response.json()["error"]["fields"]), response.json()
