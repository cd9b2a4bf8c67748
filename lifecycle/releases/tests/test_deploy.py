"""Deployments: who may deploy where, one active version per environment, and the audit trail."""

from __future__ import annotations

from functools import partial

import pytest

from lifecycle.releases.models import Deployment
from lifecycle.releases.services import create_version_live_in_development as create_version
from lifecycle.testing.concurrency import at_once
from templates_app.services import set_maintainers, update_template


def deploy(api, version_id, environment="development"):
    return api.put(f"/api/versions/{version_id}/deploy", {"environment": environment})


@pytest.fixture
def template_with_two_versions(create_template, author):
    template = create_template()
    first = template.latest_version
    second = create_version(actor=author, template_id=template.pk, definition={"content": "Second {{inquiry}}"})
    return template, first, second


@pytest.mark.django_db
def test_deploy__earlier_version_to_development_by_author__active_and_recorded(api, author, template_with_two_versions):
    template, first, second = template_with_two_versions
    # When the author puts 1.0.0 back in development
    response = deploy(api.as_user(author), first.pk)
    # Then it is the active deployment, and 1.0.1's deployment is superseded
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["versionId"], body["version"], body["environment"], body["status"]) == (
        str(first.pk),
        "1.0.0",
        "development",
        "active",
    )
    assert body["deployedBy"] == author.username
    assert body["kind"] == "redeploy"  # 1.0.0 was active in development when it was created
    states = dict(
        Deployment.objects.filter(template=template).values_list("version_id", "state").order_by("deployed_at")
    )
    assert states[second.pk] == "superseded"
    assert Deployment.objects.get(template=template, state="active").version_id == first.pk
    rendered = api.post(
        f"/api/templates/{template.pk}/render", {"environment": "development", "variables": {"inquiry": "q"}}
    ).json()
    assert rendered["version"] == "1.0.0"


@pytest.mark.django_db
def test_deploy__already_active_version__unchanged(api, author, template_with_two_versions):
    template, _, second = template_with_two_versions
    before = Deployment.objects.filter(template=template).count()
    response = deploy(api.as_user(author), second.pk)
    assert response.status_code == 200
    assert Deployment.objects.filter(template=template).count() == before


@pytest.mark.django_db
def test_deploy__development_without_author_or_deployer__403_unchanged(api, reader, template_with_two_versions):
    template, first, second = template_with_two_versions
    response = deploy(api.as_user(reader), first.pk)
    assert response.status_code == 403
    assert Deployment.objects.get(template=template, state="active").version_id == second.pk


@pytest.mark.django_db
@pytest.mark.parametrize("environment", ["staging", "production"])
def test_deploy__staging_or_production_by_author__403_needs_deployer(
    api, author, template_with_two_versions, environment
):
    _, first, _ = template_with_two_versions
    response = deploy(api.as_user(author), first.pk, environment)
    assert response.status_code == 403
    assert "deployer" in response.json()["error"]["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("environment", ["staging", "production"])
def test_deploy__unapproved_version_by_deployer__409_not_approved(
    api, make_user, template_with_two_versions, environment
):
    template, first, _ = template_with_two_versions
    response = deploy(api.as_user(make_user("deployer")), first.pk, environment)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_approved"
    assert not Deployment.objects.filter(template=template, environment=environment).exists()


@pytest.mark.django_db
def test_deploy__unknown_version__404(api, author):
    assert deploy(api.as_user(author), "00000000-0000-0000-0000-000000000000").status_code == 404


@pytest.mark.django_db
def test_deployment_state__changes_only_through_transitions(template_with_two_versions):
    from django_fsm import TransitionNotAllowed

    template, _, _ = template_with_two_versions
    superseded = Deployment.objects.filter(template=template, state="superseded").first()
    with pytest.raises(AttributeError):
        superseded.state = "active"  # protected field
    with pytest.raises(TransitionNotAllowed):
        superseded.supersede(by=None)


@pytest.mark.django_db(transaction=True)
def test_deploy__racing_deploys_of_one_template__exactly_one_active(make_user, create_template):
    from lifecycle.releases.services import deploy_version

    # Given a template with five versions
    author = make_user("author", "deployer")
    template = create_template(actor=author)
    versions = [template.latest_version] + [
        create_version(actor=author, template_id=template.pk, definition={"content": f"v{i} {{{{inquiry}}}}"})
        for i in range(4)
    ]
    # When every version is deployed to development at the same moment
    outcomes = at_once(
        [partial(deploy_version, actor=author, version_id=v.pk, environment="development") for v in versions]
    )

    # Then all succeed, exactly one is active, and every other deployment was superseded by someone
    assert all(isinstance(outcome, Deployment) for outcome in outcomes), outcomes
    deployments = Deployment.objects.filter(template=template, environment="development")
    assert deployments.filter(state="active").count() == 1
    superseded = deployments.filter(state="superseded")
    assert superseded.count() == deployments.count() - 1
    assert all(d.ended_at is not None and d.ended_by_id == author.pk for d in superseded)


@pytest.mark.django_db
def test_history__template_versions_and_deployments_newest_first_with_actors(
    api, author, reader, make_user, template_with_two_versions
):
    template, first, _ = template_with_two_versions
    editor = make_user("author")
    set_maintainers(actor=author, template_id=template.pk, usernames=[author.username, editor.username], group_names=[])
    update_template(actor=editor, template_id=template.pk, description="Sharper", tags=["support", "billing"])
    deploy(api.as_user(author), first.pk)

    response = api.as_user(reader).get(f"/api/templates/{template.pk}/history")
    assert response.status_code == 200
    entries = response.json()["results"]
    summaries = [(e["subject"], e["action"], e["by"]) for e in entries]
    assert summaries == [
        ("deployment", "created", author.username),  # 1.0.0 back in development
        ("deployment", "changed", author.username),  # 1.0.1 superseded
        ("template", "changed", editor.username),
        ("template", "changed", author.username),  # the editor became a maintainer
        ("deployment", "created", author.username),  # 1.0.1 deployed on creation
        ("deployment", "changed", author.username),  # 1.0.0 superseded
        ("version", "created", author.username),  # 1.0.1
        ("deployment", "created", author.username),  # 1.0.0 deployed on creation
        ("version", "created", author.username),  # 1.0.0
        ("template", "created", author.username),
    ]
    edit = entries[2]
    changes = {change["field"]: change for change in edit["changes"]}
    assert changes["description"]["to"] == "Sharper"
    assert changes["tags"]["from"] == ["customer-service", "support"]
    assert changes["tags"]["to"] == ["billing", "support"]
    assert entries[0]["summary"] == "version 1.0.0 in development redeployed"
    maintainers = {change["field"]: change for change in entries[3]["changes"]}["maintainers"]
    assert (maintainers["from"], maintainers["to"]) == ([author.username], sorted([author.username, editor.username]))


@pytest.mark.django_db
def test_history__unknown_template__404(api, reader):
    assert api.as_user(reader).get("/api/templates/00000000-0000-0000-0000-000000000000/history").status_code == 404
