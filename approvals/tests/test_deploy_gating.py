"""Deploying to staging and production: the deployer role and an approved request, and nothing else."""

from __future__ import annotations

import itertools
from functools import partial

import pytest

from approvals.models import ApprovalRequest
from lifecycle.releases.models import Deployment
from lifecycle.releases.services import create_version_live_in_development as create_version
from lifecycle.testing.concurrency import at_once


def deploy(api, user, version, environment="production"):
    return api.as_user(user).put(f"/api/versions/{version.pk}/deploy", {"environment": environment})


def render(api, user, version, environment="production"):
    return api.as_user(user).post(
        f"/api/templates/{version.template_id}/render", {"environment": environment, "variables": {"inquiry": "q"}}
    )


@pytest.mark.django_db
def test_deploy__approved_version_by_deployer__active_and_rendered(
    api, workflow, author, reviewers, deployer, reader, version
):
    # Given a version approved for production stage by stage by four reviewers
    workflow.submit(author, version)
    workflow.approve_all(reviewers, version)
    # When the deployer deploys it
    response = deploy(api, deployer, version)
    # Then production serves it from that moment
    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["kind"]) == ("active", "deploy")
    rendered = render(api, reader, version)
    assert rendered.status_code == 200
    assert rendered.json()["versionId"] == str(version.pk)


@pytest.mark.django_db
def test_deploy__not_approved__409_saying_so(api, workflow, author, reviewers, deployer, version):
    workflow.submit(author, version)
    workflow.approve(reviewers["technical"], version, 0)  # one stage of four
    response = deploy(api, deployer, version)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "not_approved"
    assert "not approved for production" in error["message"]
    assert not Deployment.objects.filter(environment="production").exists()


@pytest.mark.django_db
def test_deploy__approved_for_staging_only__409_for_production(api, workflow, author, reviewers, deployer, version):
    workflow.submit(author, version, "staging")
    workflow.approve_all(reviewers, version, "staging")
    assert deploy(api, deployer, version, "staging").status_code == 200
    assert deploy(api, deployer, version, "production").status_code == 409


@pytest.mark.django_db
def test_deploy__rejected_request__409(api, workflow, author, reviewers, deployer, version):
    workflow.submit(author, version)
    workflow.reject(reviewers["technical"], version, 0, "no")
    assert deploy(api, deployer, version).status_code == 409


@pytest.mark.django_db
def test_deploy__approved_but_not_deployer__403_saying_which_role(api, workflow, author, reviewers, version):
    workflow.submit(author, version)
    workflow.approve_all(reviewers, version)
    response = deploy(api, author, version)
    assert response.status_code == 403
    assert "deployer" in response.json()["error"]["message"]


@pytest.mark.django_db
def test_redeploy__earlier_version_still_approved__allowed_and_recorded(
    api, workflow, author, reviewers, deployer, reader, version
):
    # Given 1.0.0 and 1.0.1 both approved, 1.0.0 deployed and then superseded by 1.0.1
    newer = create_version(actor=author, template_id=version.template_id, definition={"content": "New {{inquiry}}"})
    for each in (version, newer):
        workflow.submit(author, each)
        workflow.approve_all(reviewers, each)
    assert deploy(api, deployer, version).json()["kind"] == "deploy"
    assert deploy(api, deployer, newer).json()["kind"] == "deploy"
    # When 1.0.0 is deployed again
    response = deploy(api, deployer, version)
    # Then it is active again, recorded as a redeploy, and served
    assert response.status_code == 200
    assert response.json()["kind"] == "redeploy"
    assert render(api, reader, version).json()["version"] == "1.0.0"
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


@pytest.mark.django_db(transaction=True)
def test_approve__two_reviewers_press_at_once__one_decides_the_other_is_refused(make_user, create_template):
    from approvals.services import approve_stage, submit_for_approval

    author = make_user("author")
    version = create_template(actor=author).latest_version
    request = submit_for_approval(actor=author, version_id=version.pk, environment="production")
    first, second = make_user("technical"), make_user("technical")
    outcomes = at_once(
        [partial(approve_stage, actor=user, request_id=request.pk, stage_index=0) for user in (first, second)]
    )

    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["ApprovalRequest", "StageOutOfOrder"]
    stage = ApprovalRequest.objects.get(version=version).stages.get(index=0)
    assert stage.state == "approved"
    assert stage.decided_by in (first, second)


@pytest.mark.django_db(transaction=True)
def test_submit__twice_at_once__one_request(make_user, create_template):
    from approvals.services import submit_for_approval

    author = make_user("author")
    version = create_template(actor=author).latest_version
    submit = partial(submit_for_approval, actor=author, version_id=version.pk, environment="production")
    outcomes = at_once([submit, submit])
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["AlreadyPending", "ApprovalRequest"]
    assert ApprovalRequest.objects.filter(version=version).count() == 1
