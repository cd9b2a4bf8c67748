"""The deployers' admin, driven with Django's test client: the "Ready to deploy" queue, the deploy with its
confirmation (the same service and rules as the API), what requests say about their deployment, and the
deployments list."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client

from approvals.models import ApprovalRequest
from lifecycle.releases.models import Deployment
from lifecycle.releases.services import create_version_live_in_development as create_version

pytestmark = pytest.mark.django_db

QUEUE = "/admin/releases/readytodeploy/"


def staff(username: str, *roles: str) -> Client:
    """A signed-in admin user made the README's way: create_api_token with their roles (which makes them staff)."""
    call_command("create_api_token", username, "--groups", ",".join(roles), stdout=io.StringIO(), stderr=io.StringIO())
    client = Client()
    client.user = get_user_model().objects.get(username=username)
    client.force_login(client.user)
    return client


def page_of(request: ApprovalRequest) -> str:
    return f"/admin/approvals/approvalrequest/{request.pk}/change/"


def deploy_page(request: ApprovalRequest) -> str:
    return f"{QUEUE}{request.pk}/deploy/"


def confirm_deploy(client: Client, request: ApprovalRequest):
    return client.post(deploy_page(request), {"confirm": "yes"}, follow=True)


def cells(html: str, field: str) -> list[str]:
    found = re.findall(rf'<td class="field-{field}[^"]*">(.*?)</td>', html, re.S)
    return [" ".join(re.sub(r"<[^>]+>", "", cell).split()) for cell in found]


@pytest.fixture
def approve(workflow, author, reviewers):
    """approve(version, environment="production"): submitted and approved at every stage, over the API."""

    def run(version, environment: str = "production") -> ApprovalRequest:
        assert workflow.submit(author, version, environment).status_code == 201
        workflow.approve_all(reviewers, version, environment)
        return ApprovalRequest.objects.get(version=version, environment=environment, state="approved")

    return run


@pytest.fixture
def approved(approve, version) -> ApprovalRequest:
    return approve(version)


def test_ready_queue__approved_and_not_deployed__oldest_approval_first(
    approve, workflow, author, reviewers, create_template, api, deployer
):
    # Given: two approved requests (the later template's approved first), one pending, one rejected, and
    # one approved and already deployed
    first_made, second_made = create_template().latest_version, create_template().latest_version
    older_approval = approve(second_made)
    newer_approval = approve(first_made)
    pending = create_template().latest_version
    workflow.submit(author, pending)
    rejected = create_template().latest_version
    workflow.submit(author, rejected)
    workflow.reject(reviewers["technical"], rejected, 0, "no")
    deployed = approve(create_template().latest_version)
    api.as_user(deployer).put(f"/api/versions/{deployed.version_id}/deploy", {"environment": "production"})
    # When a deployer opens their queue
    html = staff("dora", "deployer").get(QUEUE).content.decode()
    # Then it lists the two waiting for a deploy, the oldest approval first, each with its deploy button
    assert html.index(f'id="request-{older_approval.pk}"') < html.index(f'id="request-{newer_approval.pk}"')
    for request in (older_approval, newer_approval):
        assert f'href="{deploy_page(request)}" id="deploy-{request.pk}"' in html
    for version in (pending, rejected, deployed.version):
        assert version.template.name not in html
    assert cells(html, "serving_now") == ["nothing yet", "nothing yet"]


def test_ready_queue__says_which_version_serves_there_now(approve, api, deployer, author, version):
    approve(version)
    api.as_user(deployer).put(f"/api/versions/{version.pk}/deploy", {"environment": "production"})
    newer = create_version(actor=author, template_id=version.template_id, definition={"content": "New {{inquiry}}"})
    approve(newer)
    html = staff("dora", "deployer").get(QUEUE).content.decode()
    assert cells(html, "template_and_version") == [f"{version.template.name} 1.0.1"]
    assert cells(html, "serving_now") == ["1.0.0"]


def test_deploy__asked_first__then_deployed_through_the_service(approved, api, reader):
    dora = staff("dora", "deployer")
    # When the deployer opens the deploy button's page
    asked = dora.get(deploy_page(approved))
    # Then it asks for a confirmation, saying what changes, and nothing is deployed yet
    html = asked.content.decode()
    assert asked.status_code == 200
    assert f"Deploy {approved.version} to production?" in html
    assert 'name="confirm" value="yes" id="confirm"' in html
    assert f'href="{QUEUE}" id="cancel"' in html
    assert "Serving there now: <b>nothing yet</b>" in html
    assert not Deployment.objects.filter(environment="production").exists()
    # When they confirm
    done = confirm_deploy(dora, approved)
    # Then the version serves production, deployed by them, and the queue is empty again
    assert f"{approved.version} deployed to production: it serves there now." in done.content.decode()
    assert done.redirect_chain[-1][0] == QUEUE
    deployment = Deployment.objects.get(environment="production", state="active")
    assert (deployment.version_id, deployment.deployed_by) == (approved.version_id, dora.user)
    assert deployment.history.first().history_user == dora.user
    assert f'id="deploy-{approved.pk}"' not in dora.get(QUEUE).content.decode()
    rendered = api.as_user(reader).post(
        f"/api/templates/{approved.version.template_id}/render",
        {"environment": "production", "variables": {"inquiry": "q"}},
    )
    assert rendered.json()["versionId"] == str(approved.version_id)


def test_deploy__by_a_user_without_the_deployer_role__refused_as_by_the_api_and_nothing_deployed(approved):
    # Given someone who was given the queue's permission by hand, without the deployer role
    client = staff("eve")
    client.user.is_staff = True
    client.user.save()
    client.user.user_permissions.add(Permission.objects.get(codename="view_readytodeploy"))
    client.force_login(client.user)
    # When they open the deploy page, and when they post the confirmation anyway
    for response in (client.get(deploy_page(approved), follow=True), confirm_deploy(client, approved)):
        # Then the service's refusal is shown, and nothing is deployed
        html = response.content.decode()
        assert "To deploy to production you need the &#x27;deployer&#x27; role." in html
        assert 'id="confirm"' not in html
    assert not Deployment.objects.filter(environment="production").exists()


def test_deploy__reviewer__neither_the_queue_nor_the_deploy(approved):
    tina = staff("tina2", "technical")
    assert tina.get(QUEUE).status_code == 403
    assert tina.get(deploy_page(approved)).status_code == 403
    assert tina.post(deploy_page(approved), {"confirm": "yes"}).status_code == 403
    assert not Deployment.objects.filter(environment="production").exists()


def test_deploy__a_stale_page_of_a_version_deployed_and_replaced__not_deployed_again(
    approved, approve, author, api, deployer
):
    # Given 1.0.0 deployed from the queue, then 1.0.1 approved and deployed over it
    dora = staff("dora", "deployer")
    confirm_deploy(dora, approved)
    template_id = approved.version.template_id
    newer = create_version(actor=author, template_id=template_id, definition={"content": "N {{inquiry}}"})
    approve(newer)
    api.as_user(deployer).put(f"/api/versions/{newer.pk}/deploy", {"environment": "production"})
    # When 1.0.0's confirmation is posted again (a page left open)
    html = confirm_deploy(dora, approved).content.decode()
    # Then nothing is deployed: 1.0.1 still serves production
    assert "is not waiting for a deploy" in html
    assert Deployment.objects.get(environment="production", state="active").version_id == newer.pk


@pytest.mark.parametrize("object_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_deploy__odd_or_unknown_id__404(object_id):
    assert staff("dora", "deployer").get(f"{QUEUE}{object_id}/deploy/").status_code == 404


def test_request_page__approved__names_the_deployers_and_offers_the_deploy_to_them_only(approved):
    dora, dan = staff("dora", "deployer"), staff("dan", "deployer")
    html = dora.get(page_of(approved)).content.decode()
    assert "Next: a deployer deploys it to <b>production</b>" in html
    assert "Deployers: <b>dan, dora</b>." in html
    assert f'href="{deploy_page(approved)}" id="deploy-{approved.pk}"' in html
    assert f'id="deploy-{approved.pk}"' in dan.get(page_of(approved)).content.decode()
    for other in (staff("tina2", "technical"), staff("alice", "author")):
        assert f'id="deploy-{approved.pk}"' not in other.get(page_of(approved)).content.decode()


def test_request_page_and_list__say_whether_and_when_the_version_was_deployed(approved, make_user):
    root = Client()
    root.force_login(make_user(superuser=True))
    assert cells(root.get("/admin/approvals/approvalrequest/").content.decode(), "deployed") == ["not yet"]
    confirm_deploy(staff("dora", "deployer"), approved)
    deployment = Deployment.objects.get(environment="production")
    from django.utils import timezone

    at = timezone.localtime(deployment.deployed_at).strftime("%Y-%m-%d %H:%M")
    assert cells(root.get("/admin/approvals/approvalrequest/").content.decode(), "deployed") == [at]
    html = root.get(page_of(approved)).content.decode()
    assert f"Deployed to <b>production</b> on <b>{at}</b>\n      by <b>dora</b>: it serves there now." in html
    assert f'id="deploy-{approved.pk}"' not in html


def test_deployments_list__few_short_columns_users_as_text(approved, make_user):
    # Given 1.0.0 deployed to production (and active in development since its creation)
    confirm_deploy(staff("dora", "deployer"), approved)
    # When a deployer reads the list
    html = staff("dora", "deployer").get("/admin/releases/deployment/").content.decode()
    # Then five columns that fit a laptop screen beside the filters, no ids, users as names
    headers = re.findall(r'<th scope="col" class="(?:sortable )?column-(\w+)', html)
    assert headers == ["template_and_version", "environment", "status", "deployed", "ended"]
    deployed = cells(html, "deployed")
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d by \S+", cell) for cell in deployed), deployed
    assert any(cell.endswith(" by dora") for cell in deployed)
    assert str(approved.version_id) not in html
    assert "/admin/auth/" not in html


def test_deployment_page__users_as_text_and_the_id_last(approved):
    dora = staff("dora", "deployer")
    confirm_deploy(dora, approved)
    deployment = Deployment.objects.get(environment="production")
    html = dora.get(f"/admin/releases/deployment/{deployment.pk}/change/").content.decode()
    assert "/admin/auth/" not in html
    assert f"{approved.version} in production (active)" in html  # its title, not an id
    rows = re.findall(r'<div class="form-row field-(\w+)', html)
    assert rows[-1] == "id"
    assert rows[:3] == ["template", "version", "environment"]


def test_ready_queue_and_request_list__queries_do_not_grow_with_requests(
    approve, create_template, make_user, django_assert_max_num_queries
):
    dora = staff("dora", "deployer")
    root = Client()
    root.force_login(make_user(superuser=True))
    for _ in range(2):
        approve(create_template().latest_version)
    with django_assert_max_num_queries(30) as few:
        dora.get(QUEUE)
    queue_queries = len(few.captured_queries)
    with django_assert_max_num_queries(30) as few:
        root.get("/admin/approvals/approvalrequest/")
    list_queries = len(few.captured_queries)
    for _ in range(6):
        approve(create_template().latest_version)
    with django_assert_max_num_queries(queue_queries):
        assert dora.get(QUEUE).content.decode().count('id="deploy-') == 8
    with django_assert_max_num_queries(list_queries):
        root.get("/admin/approvals/approvalrequest/")
