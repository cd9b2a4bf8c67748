"""The authoring pages of the admin (issue 11): authors submit a version from its page, which shows where
it stands; the template's history is its whole audit trail; each role sees what it can act on; nothing
links a user to a page they may not open. Users are made as the README makes them (create_api_token)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from approvals import services as approval_services
from approvals.models import ApprovalRequest
from lifecycle.releases import selectors
from lifecycle.releases.services import create_version_live_in_development, deploy_version
from lifecycle.testing.admin_forms import person
from lifecycle.testing.factories import create_template
from templates_app.services import update_template

pytestmark = pytest.mark.django_db

PRODUCTION_ROLES = ["technical", "qa", "security", "business"]


@pytest.fixture
def alice() -> Client:
    return person("alice", "author")


@pytest.fixture
def next_version(alice):
    """alice's template and its next version, 1.0.1 (active in development)."""
    template = create_template(alice.user, name="Support reply")
    return create_version_live_in_development(
        actor=alice.user, template_id=template.pk, definition={"content": "Kinder: {{inquiry}}"}
    )


def version_page(client: Client, version) -> str:
    response = client.get(f"/admin/templates_app/templateversion/{version.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def submit(client: Client, version, environment: str):
    return client.post(
        f"/admin/templates_app/templateversion/{version.pk}/submit/", {"submit_environment": environment}, follow=True
    )


def approve_all(version, environment: str = "production") -> None:
    roles = PRODUCTION_ROLES if environment == "production" else PRODUCTION_ROLES[:2]
    request = ApprovalRequest.objects.get(version=version, environment=environment, state="pending")
    for index, role in enumerate(roles):
        reviewer = person(f"{role}-reviewer", role).user
        approval_services.approve_stage(actor=reviewer, request_id=request.pk, stage_index=index, comment="ok")


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# 1. Authors submit from the version page


def test_version_page__maintaining_author__submit_buttons_and_where_it_stands(alice, next_version):
    # Given alice's new version, active in development only
    # When she opens its page
    html = version_page(alice, next_version)
    # Then it says where it stands in each environment, and offers both submissions
    for environment in ("development", "staging", "production"):
        assert f'<tr id="standing-{environment}">' in html
    development = html[html.index('<tr id="standing-development">') : html.index('<tr id="standing-staging">')]
    assert "<b>active</b>" in development
    for environment in ("staging", "production"):
        assert re.search(
            rf'<button type="submit" class="button" name="submit_environment" value="{environment}"\s+'
            rf'id="submit-{environment}" formaction="/admin/templates_app/templateversion/{next_version.pk}/submit/">',
            html,
        )


@pytest.mark.parametrize("role", ["technical", "deployer", "author"])
def test_version_page__cannot_submit_it__no_submit_buttons(next_version, role):
    # Given a reviewer, a deployer, or an author who does not maintain the template
    someone = person("someone", role)
    # When they open the version's page
    html = version_page(someone, next_version)
    # Then it shows where the version stands, without buttons they could not use
    assert 'id="standing"' in html
    assert 'name="submit_environment"' not in html


def test_submit_from_version_page__maintaining_author__request_opened_and_shown_with_its_link(alice, next_version):
    # Given alice's new version
    # When she presses "Submit for production"
    response = submit(alice, next_version, "production")
    # Then a pending request exists, she is told who reviews first, and the page links to the request
    request = ApprovalRequest.objects.get(version=next_version)
    assert (request.environment, request.state, request.submitted_by) == ("production", "pending", alice.user)
    assert response.redirect_chain == [(f"/admin/templates_app/templateversion/{next_version.pk}/change/", 302)]
    assert messages_of(response) == [
        "Version 1.0.1 submitted for production: it waits for the 'technical' review (stage 1 of 4)."
    ]
    html = response.content.decode()
    assert f'href="/admin/approvals/approvalrequest/{request.pk}/change/" id="request-production"' in html
    assert "waits for stage 1 of 4 (<b>technical</b>)" in html
    # and production is not offered again while it waits; staging still is
    assert 'value="production"' not in html
    assert 'id="submit-staging"' in html


@pytest.mark.parametrize("role", ["author", "technical", "deployer"])
def test_submit_from_version_page__not_a_maintaining_author__refused_and_nothing_opened(next_version, role):
    # Given someone who may not submit the version (an author who does not maintain it, a reviewer, a deployer)
    someone = person("someone", role)
    # When they post the submit button anyway
    response = submit(someone, next_version, "production")
    # Then they are told why, and no request exists
    assert response.status_code == 200
    assert len(messages_of(response)) == 1
    assert "you need the 'author' role and to maintain template 'Support reply'" in messages_of(response)[0]
    assert not ApprovalRequest.objects.exists()


def test_submit_from_version_page__already_waiting__refused_and_still_one_request(alice, next_version):
    # Given a version waiting for approval in production
    submit(alice, next_version, "production")
    # When it is submitted again
    response = submit(alice, next_version, "production")
    # Then the second submission is refused with a message, and one request remains
    assert messages_of(response) == ["Version 1.0.1 already waits for approval in production."]
    assert ApprovalRequest.objects.filter(version=next_version).count() == 1


@pytest.mark.parametrize(
    ("environment", "why"),
    [
        ("development", "Development needs no approval"),
        ("nowhere", "environment: must be one of development, staging, production"),
        ("", "environment: must be one of development, staging, production"),
    ],
)
def test_submit_from_version_page__environment_without_review__refused_and_nothing_opened(
    alice, next_version, environment, why
):
    # Given alice's version
    # When a crafted post names development, an unknown environment, or none
    response = submit(alice, next_version, environment)
    # Then she is back on the version's page, told why, and no request exists
    assert response.redirect_chain == [(f"/admin/templates_app/templateversion/{next_version.pk}/change/", 302)]
    assert len(messages_of(response)) == 1
    assert why in messages_of(response)[0]
    assert not ApprovalRequest.objects.exists()


def test_submit_from_version_page__get__refused(alice, next_version):
    # Given alice's version
    # When the submit address is opened rather than posted
    response = alice.get(f"/admin/templates_app/templateversion/{next_version.pk}/submit/")
    # Then nothing is submitted
    assert response.status_code == 403
    assert not ApprovalRequest.objects.exists()


def test_version_page__approved_and_deployed__approved_active_and_the_request_state(alice, next_version):
    # Given a version approved for production by its four reviewers, then deployed there
    approval_services.submit_for_approval(actor=alice.user, version_id=next_version.pk, environment="production")
    approve_all(next_version)
    waiting_for_deployer = version_page(alice, next_version)
    deploy_version(actor=person("dora", "deployer").user, version_id=next_version.pk, environment="production")
    # When alice opens its page
    html = version_page(alice, next_version)
    # Then production reads approved and active, with its approved request; before the deploy it waited
    production = html[html.index('<tr id="standing-production">') :]
    production = production[: production.index("</tr>")]
    assert "<b>approved</b>" in production
    assert "<b>active</b>" in production
    assert 'class="request-link">approved</a>' in production
    assert 'name="submit_environment"' not in production
    assert "not yet: waits for a deployer" in waiting_for_deployer


def test_version_page__rejected__offers_submitting_again(alice, next_version):
    # Given a version whose production request was rejected
    request = approval_services.submit_for_approval(
        actor=alice.user, version_id=next_version.pk, environment="production"
    )
    tina = person("tina", "technical").user
    approval_services.reject_stage(actor=tina, request_id=request.pk, stage_index=0, comment="too curt")
    # When alice opens its page, then submits again from it
    html = version_page(alice, next_version)
    response = submit(alice, next_version, "production")
    # Then the rejection is shown with a way to submit again, and a new request waits
    assert 'class="request-link">rejected</a>' in html
    assert re.search(r'id="submit-production"[^>]*>\s*Submit for production again', html)
    assert ApprovalRequest.objects.filter(version=next_version, state="pending").count() == 1
    assert "submitted for production" in messages_of(response)[0]


# 3. One history


def test_template_history__whole_trail__same_entries_as_the_api_newest_first_with_who(alice, next_version, api):
    # Given a template that was edited, got a version, went through review with a comment, and was deployed
    template = next_version.template
    update_template(actor=alice.user, template_id=template.pk, description="Edited", tags=["support", "kind"])
    request = approval_services.submit_for_approval(
        actor=alice.user, version_id=next_version.pk, environment="production"
    )
    approval_services.add_comment(actor=alice.user, request_id=request.pk, body="Please look at the tone")
    approve_all(next_version)
    deploy_version(actor=person("dora", "deployer").user, version_id=next_version.pk, environment="production")
    # When alice opens its history page
    html = unescape(alice.get(f"/admin/templates_app/prompttemplate/{template.pk}/history/").content.decode())
    # Then every entry of the API's trail is there, in the API's order, each with who made it
    trail = api.as_user(alice.user).get(f"/api/templates/{template.pk}/history?pageSize=200").json()["results"]
    subjects = {entry["subject"] for entry in trail}
    assert subjects == {"template", "version", "approval", "approval stage", "approval comment", "deployment"}
    rows = re.findall(r'<tr class="trail-[^"]*">(.*?)</tr>', html, re.S)
    assert len(rows) == len(trail)
    for row, entry in zip(rows, trail, strict=True):
        assert entry["summary"] in row
        assert f'<td class="trail-by">{entry["by"]}</td>' in row
    # and what changed, as the API reports it
    assert "<b>description</b>:" in html
    assert "Edited" in html
    assert "<b>comment</b>:" in html
    assert "Please look at the tone" in html


def test_template_history__links__to_each_entrys_page(alice, next_version):
    # Given a template whose version was submitted and deployed
    template = next_version.template
    request = approval_services.submit_for_approval(
        actor=alice.user, version_id=next_version.pk, environment="production"
    )
    approve_all(next_version)
    deployment = deploy_version(
        actor=person("dora", "deployer").user, version_id=next_version.pk, environment="production"
    )
    # When alice opens its history
    html = alice.get(f"/admin/templates_app/prompttemplate/{template.pk}/history/").content.decode()
    # Then entries link to the template as it was, the version, the request and the deployment
    created = template.history.earliest("history_id")
    assert f'href="/admin/templates_app/prompttemplate/{template.pk}/history/{created.history_id}/"' in html
    assert f'href="/admin/templates_app/templateversion/{next_version.pk}/change/"' in html
    request_links = html.count(f'href="/admin/approvals/approvalrequest/{request.pk}/change/"')
    assert request_links == 1 + 4 + 1  # requested, four stage decisions, approved
    assert f'href="/admin/releases/deployment/{deployment.pk}/change/"' in html


def test_template_history__more_entries__same_number_of_queries(alice, django_assert_max_num_queries):
    # Given a template with two versions, and its history page's cost
    template = create_template(alice.user, name="Counted")
    create_version_live_in_development(
        actor=alice.user, template_id=template.pk, definition={"content": "1 {{inquiry}}"}
    )
    url = f"/admin/templates_app/prompttemplate/{template.pk}/history/"
    with CaptureQueriesContext(connection) as few:
        alice.get(url)
    # When it gets five more versions, each submitted for production
    for number in range(2, 7):
        version = create_version_live_in_development(
            actor=alice.user, template_id=template.pk, definition={"content": f"{number} {{{{inquiry}}}}"}
        )
        approval_services.submit_for_approval(actor=alice.user, version_id=version.pk, environment="production")
    # Then the page costs no more queries
    with django_assert_max_num_queries(len(few)):
        alice.get(url)


# 4. No link leads to a 403


def _admin_links(html: str) -> set[str]:
    return {unescape(href) for href in re.findall(r'href="(/admin/[^"#]*)"', html)} - {"/admin/logout/"}


@pytest.mark.parametrize("role", ["author", "technical", "deployer", "analyst"])
def test_authoring_pages__every_link__opens_for_the_viewer(alice, next_version, role):
    # Given a version that went through review and reached production, and someone holding `role`
    template = next_version.template
    approval_services.submit_for_approval(actor=alice.user, version_id=next_version.pk, environment="production")
    approve_all(next_version)
    deploy_version(actor=person("dora", "deployer").user, version_id=next_version.pk, environment="production")
    viewer = alice if role == "author" else person("viewer", role)
    created = template.history.earliest("history_id")
    pages = [
        f"/admin/templates_app/prompttemplate/{template.pk}/change/",
        f"/admin/templates_app/prompttemplate/{template.pk}/history/",
        f"/admin/templates_app/prompttemplate/{template.pk}/history/{created.history_id}/",
        f"/admin/templates_app/templateversion/{next_version.pk}/change/",
        f"/admin/templates_app/templateversion/{next_version.pk}/history/",
        "/admin/templates_app/prompttemplate/",
        "/admin/templates_app/templateversion/",
    ]
    # When they open each authoring page, and every admin link on it
    refused = []
    for page in pages:
        response = viewer.get(page)
        assert response.status_code == 200, page
        for link in _admin_links(response.content.decode()):
            if viewer.get(link).status_code == 403:
                refused.append((page, link))
    # Then none of those links is refused to them
    assert refused == []


# 5. Each role sees what it can act on


def _index(client: Client) -> str:
    return client.get("/admin/").content.decode()


def test_admin_index__author__adds_templates_and_versions(alice):
    # Given an author who maintains a template
    create_template(alice.user)
    # When she opens the admin
    html = _index(alice)
    # Then she can add templates and versions, and reach both lists
    assert 'href="/admin/templates_app/prompttemplate/add/"' in html
    assert 'href="/admin/templates_app/templateversion/add/"' in html
    assert 'href="/admin/templates_app/prompttemplate/"' in html
    assert 'href="/admin/templates_app/templateversion/"' in html


def test_admin_index__author_without_templates__no_add_version_until_they_have_one(alice):
    # Given an author who maintains no template yet
    # When she opens the admin, and the add-version form
    html = _index(alice)
    form = alice.get("/admin/templates_app/templateversion/add/")
    # Then she may add a template, but adding a version is not offered, and its form is refused
    assert 'href="/admin/templates_app/prompttemplate/add/"' in html
    assert 'href="/admin/templates_app/templateversion/add/"' not in html
    assert form.status_code == 403


@pytest.mark.parametrize("role", ["technical", "qa", "security", "business", "deployer", "analyst"])
def test_admin_pages__not_an_author__no_add_buttons_for_templates_or_versions(alice, next_version, role):
    # Given a reviewer, a deployer or an analyst
    someone = person("someone", role)
    # When they open the admin, and the template and version lists
    pages = [
        _index(someone),
        someone.get("/admin/templates_app/prompttemplate/").content.decode(),
        someone.get("/admin/templates_app/templateversion/").content.decode(),
    ]
    # Then nothing offers to add a template or a version, and the add forms are refused
    for html in pages:
        assert "/admin/templates_app/prompttemplate/add/" not in html
        assert "/admin/templates_app/templateversion/add/" not in html
    assert someone.get("/admin/templates_app/prompttemplate/add/").status_code == 403
    assert someone.get("/admin/templates_app/templateversion/add/").status_code == 403
    # and they read every template: nobody's templates are theirs to filter
    assert "Support reply" in pages[1]
    assert "maintainer=" not in pages[1]


def test_template_list__author__own_templates_by_default_and_the_others_one_click_away(alice):
    # Given alice's template and bob's
    create_template(alice.user, name="Alice's prompt")
    create_template(person("bob", "author").user, name="Bob's prompt")
    # When alice opens the template list, then chooses "anyone"
    mine = alice.get("/admin/templates_app/prompttemplate/").content.decode()
    everyone = alice.get("/admin/templates_app/prompttemplate/?maintainer=anyone").content.decode()
    # Then first she sees hers only, with the filter saying so, and then both
    assert "Alice&#x27;s prompt" in mine
    assert "Bob&#x27;s prompt" not in mine
    assert re.search(r'<li class="selected">\s*<a href="\?maintainer=me"', mine)
    assert 'href="?maintainer=anyone"' in mine
    assert "Alice&#x27;s prompt" in everyone
    assert "Bob&#x27;s prompt" in everyone


def test_version_list__author__versions_of_own_templates_by_default(alice):
    # Given versions of alice's template and of bob's
    create_template(alice.user, name="Alice's prompt")
    create_template(person("bob", "author").user, name="Bob's prompt")
    # When alice opens the version list, then chooses "anyone"
    mine = alice.get("/admin/templates_app/templateversion/").content.decode()
    everyone = alice.get("/admin/templates_app/templateversion/?maintainer=anyone").content.decode()
    # Then first only her template's versions, then both
    assert "Alice&#x27;s prompt" in mine
    assert "Bob&#x27;s prompt" not in mine
    assert "Alice&#x27;s prompt" in everyone
    assert "Bob&#x27;s prompt" in everyone


def test_template_list__searching_own_templates__total_counts_own_templates(alice):
    # Given two templates of alice's and one of bob's
    create_template(alice.user, name="Alice's first")
    create_template(alice.user, name="Alice's second")
    create_template(person("bob", "author").user, name="Bob's prompt")
    # When alice searches her list
    html = alice.get("/admin/templates_app/prompttemplate/?q=first").content.decode()
    # Then the total beside the result counts her templates (its link, to "?", leads back to them)
    assert re.search(r"1 result \(<a [^>]*>2 total</a>\)", html)


def test_template_list__superuser__every_template_without_the_maintainer_filter(alice):
    # Given a superuser, and alice's template
    create_template(alice.user, name="Alice's prompt")
    root = person("root", superuser=True)
    # When the superuser opens the list
    html = root.get("/admin/templates_app/prompttemplate/").content.decode()
    # Then every template is there, unfiltered
    assert "Alice&#x27;s prompt" in html
    assert "maintainer=" not in html


def test_template_list__more_templates__same_number_of_queries(alice, django_assert_max_num_queries):
    # Given alice's list with two templates, and its cost
    for number in range(2):
        create_template(alice.user, name=f"Listed {number}")
    with CaptureQueriesContext(connection) as few:
        alice.get("/admin/templates_app/prompttemplate/")
    # When she has six more
    for number in range(2, 8):
        create_template(alice.user, name=f"Listed {number}", tags=[f"tag-{number}"])
    # Then the list costs no more queries
    with django_assert_max_num_queries(len(few)):
        alice.get("/admin/templates_app/prompttemplate/")


def test_standing_of_version__pending_request__its_current_stage_numbered_from_one(alice, next_version):
    # Given a production request whose first stage was approved
    approval_services.submit_for_approval(actor=alice.user, version_id=next_version.pk, environment="production")
    request = ApprovalRequest.objects.get(version=next_version)
    approval_services.approve_stage(
        actor=person("tina", "technical").user, request_id=request.pk, stage_index=0, comment=""
    )
    # When where the version stands is read
    standing = {place.environment: place for place in selectors.standing_of_version(next_version.pk)}
    # Then production waits for its second stage of four, the qa role's; the others have no request
    assert standing["production"].pending is not None
    assert standing["production"].pending.waiting_stage == (2, 4, "qa")
    assert standing["staging"].requests == ()
    assert standing["development"].active
    assert not standing["development"].needs_approval
