"""Each role's admin, driven with Django's test client: the index lists what the role acts on, and no page of
the review and release flow links a role to a page it may not open."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from approvals.models import ApprovalPolicy, ApprovalRequest
from lifecycle.releases.models import Deployment
from lifecycle.releases.tests.test_admin_release import QUEUE, confirm_deploy, deploy_page, page_of, staff

pytestmark = pytest.mark.django_db

REVIEW_QUEUE = "/admin/approvals/reviewqueue/"
REQUESTS = "/admin/approvals/approvalrequest/"
POLICIES = "/admin/approvals/approvalpolicy/"
DEPLOYMENTS = "/admin/releases/deployment/"
FLOW_LISTS = {REVIEW_QUEUE, REQUESTS, POLICIES, QUEUE, DEPLOYMENTS}


def listed_on_the_index(client: Client) -> set[str]:
    html = client.get("/admin/").content.decode()
    return {url for url in FLOW_LISTS if f'href="{url}"' in html}


@pytest.mark.parametrize(
    ("roles", "lists"),
    [
        (["technical"], {REVIEW_QUEUE, REQUESTS}),
        (["qa"], {REVIEW_QUEUE, REQUESTS}),
        (["deployer"], {QUEUE, DEPLOYMENTS}),
        (["author"], {REQUESTS}),
        (["author", "deployer"], {REQUESTS, QUEUE, DEPLOYMENTS}),
    ],
)
def test_admin_index__each_role__lists_what_it_acts_on(roles, lists):
    # Given a user holding the roles, made staff the README's way
    client = staff("someone", *roles)
    # When they open the admin's index, then it lists the review and release pages of their work, and no other
    assert listed_on_the_index(client) == lists


def test_admin_index__superuser__lists_every_page(make_user):
    root = Client()
    root.force_login(make_user(superuser=True))
    assert listed_on_the_index(root) == FLOW_LISTS


@pytest.mark.parametrize(
    ("roles", "refused"),
    [(["technical"], [QUEUE]), (["deployer"], [REVIEW_QUEUE]), (["author"], [QUEUE, REVIEW_QUEUE])],
)
def test_admin_queues__another_roles_queue__refused(roles, refused):
    client = staff("someone", *roles)
    for url in refused:
        assert client.get(url).status_code == 403


@pytest.fixture
def requests_in_every_state(workflow, create_template, reviewers, deployer, api):
    """alice's requests for production: pending, rejected, withdrawn, approved, approved and deployed."""
    alice = staff("alice", "author")
    made = {}
    for state in ("pending", "rejected", "cancelled", "approved", "deployed"):
        version = create_template(actor=alice.user).latest_version
        workflow.submit(alice.user, version)
        if state == "rejected":
            workflow.reject(reviewers["technical"], version, 0, "no")
        if state == "cancelled":
            api.as_user(alice.user).post("/api/approval/cancel", {"versionId": str(version.pk)})
        if state in ("approved", "deployed"):
            workflow.approve_all(reviewers, version)
        made[state] = ApprovalRequest.objects.get(version=version)
    confirm_deploy(staff("dora", "deployer"), made["deployed"])
    return made


def admin_links(html: str) -> set[str]:
    links = {href.replace("&amp;", "&") for href in re.findall(r'href="(/admin/[^"#]*)"', html)}
    return {link for link in links if not link.startswith("/admin/logout/")}


@pytest.mark.parametrize("roles", [["technical"], ["security"], ["author"], ["deployer"], ["analyst"]])
def test_review_and_release_pages__no_link_leads_to_a_refusal(roles, requests_in_every_state):
    # Given someone holding the roles, and requests in every state
    client = staff("someone", *roles)
    deployment = Deployment.objects.get(environment="production")
    policy = ApprovalPolicy.objects.get(environment="production")
    pages = [
        "/admin/",
        *[page_of(request) for request in requests_in_every_state.values()],
        *[url for url in FLOW_LISTS if client.get(url).status_code == 200],
        f"{DEPLOYMENTS}{deployment.pk}/change/",
        f"{POLICIES}{policy.pk}/change/",
    ]
    if "deployer" in roles:
        pages.append(deploy_page(requests_in_every_state["approved"]))
    # When they follow every admin link of those pages
    refused = {}
    for page in pages:
        response = client.get(page)
        if response.status_code == 403:
            continue  # not theirs, and no page of the flow links them there (checked below)
        assert response.status_code == 200, page
        for link in admin_links(response.content.decode()):
            status = client.get(link).status_code
            if status not in (200, 302):
                refused[link] = (page, status)
    # Then none is refused
    assert refused == {}
