"""Deployments: who may deploy where, one active version per environment, and the audit trail."""

from __future__ import annotations

import itertools
from functools import partial

import pytest

from lifecycle.releases.models import Deployment
from lifecycle.releases.services import create_version_live_in_development as create_version
from lifecycle.testing.concurrency import at_once
from templates_app.services import set_maintainers, update_template


def deploy(api, version_id, environment="development"):
    return api.put(f"/api/versions/{version_id}/deploy", {"environment": environment})


def render(api, version, environment="production"):
    return api.post(
        f"/api/templates/{version.template_id}/render", {"environment": environment, "variables": {"inquiry": "q"}}
    )


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


# -- staging and production: the deployer role and an approved request, and nothing else --


@pytest.mark.django_db
def test_deploy__approved_version_by_deployer__active_and_rendered(
    api, workflow, author, reviewers, deployer, reader, version
):
    # Given a version approved for production stage by stage by four reviewers
    workflow.submit(author, version)
    workflow.approve_all(reviewers, version)
    # When the deployer deploys it
    response = deploy(api.as_user(deployer), version.pk, "production")
    # Then production serves it from that moment
    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["kind"]) == ("active", "deploy")
    rendered = render(api.as_user(reader), version)
    assert rendered.status_code == 200
    assert rendered.json()["versionId"] == str(version.pk)


@pytest.mark.django_db
def test_deploy__not_approved__409_saying_so(api, workflow, author, reviewers, deployer, version):
    workflow.submit(author, version)
    workflow.approve(reviewers["technical"], version, 0)  # one stage of four
    response = deploy(api.as_user(deployer), version.pk, "production")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "not_approved"
    assert "not approved for production" in error["message"]
    assert not Deployment.objects.filter(environment="production").exists()


@pytest.mark.django_db
def test_deploy__approved_for_staging_only__409_for_production(api, workflow, author, reviewers, deployer, version):
    workflow.submit(author, version, "staging")
    workflow.approve_all(reviewers, version, "staging")
    assert deploy(api.as_user(deployer), version.pk, "staging").status_code == 200
    assert deploy(api.as_user(deployer), version.pk, "production").status_code == 409


@pytest.mark.django_db
def test_deploy__rejected_request__409(api, workflow, author, reviewers, deployer, version):
    workflow.submit(author, version)
    workflow.reject(reviewers["technical"], version, 0, "no")
    assert deploy(api.as_user(deployer), version.pk, "production").status_code == 409


@pytest.mark.django_db
def test_redeploy__earlier_version_still_approved__allowed_and_recorded(
    api, workflow, author, reviewers, deployer, reader, version
):
    # Given 1.0.0 and 1.0.1 both approved, 1.0.0 deployed and then superseded by 1.0.1
    newer = create_version(actor=author, template_id=version.template_id, definition={"content": "New {{inquiry}}"})
    for each in (version, newer):
        workflow.submit(author, each)
        workflow.approve_all(reviewers, each)
    assert deploy(api.as_user(deployer), version.pk, "production").json()["kind"] == "deploy"
    assert deploy(api.as_user(deployer), newer.pk, "production").json()["kind"] == "deploy"
    # When 1.0.0 is deployed again
    response = deploy(api.as_user(deployer), version.pk, "production")
    # Then it is active again, recorded as a redeploy, and served
    assert response.status_code == 200
    assert response.json()["kind"] == "redeploy"
    assert render(api.as_user(reader), version).json()["version"] == "1.0.0"
    history = api.as_user(reader).get(f"/api/templates/{version.template_id}/history").json()["results"]
    assert history[0]["summary"] == "version 1.0.0 in production redeployed"


@pytest.mark.django_db(transaction=True)
def test_deploy__racing_deploys_to_production__exactly_one_active(make_user, create_template):
    from approvals.services import approve_stage, submit_for_approval
    from lifecycle.releases.services import deploy_version

    # Given four versions approved for production
    author = make_user("author")
    deployer = make_user("deployer")
    deciders = [make_user(role) for role in ("technical", "qa", "security", "business")]
    template = create_template(actor=author)
    versions = [template.latest_version] + [
        create_version(actor=author, template_id=template.pk, definition={"content": f"v{i} {{{{inquiry}}}}"})
        for i in range(3)
    ]
    for version in versions:
        request = submit_for_approval(actor=author, version_id=version.pk, environment="production")
        for index, decider in enumerate(deciders):
            approve_stage(actor=decider, request_id=request.pk, stage_index=index)

    # When all four are deployed to production at the same moment
    outcomes = at_once(
        [partial(deploy_version, actor=deployer, version_id=v.pk, environment="production") for v in versions]
    )

    # Then each succeeded in turn: one active, the others superseded, each by the deploy after it
    assert all(isinstance(outcome, Deployment) for outcome in outcomes), outcomes
    deployments = list(Deployment.objects.filter(template=template, environment="production").order_by("deployed_at"))
    assert len(deployments) == 4
    assert [d.state for d in deployments] == ["superseded", "superseded", "superseded", "active"]
    for earlier, later in itertools.pairwise(deployments):
        assert earlier.ended_at <= later.deployed_at
        assert earlier.ended_by_id == deployer.pk


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
