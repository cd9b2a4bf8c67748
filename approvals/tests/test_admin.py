"""The reviewers' admin, driven with Django's test client: the same rules as the API, and only the
permissions a reviewer's work needs."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from approvals.models import ApprovalPolicy, ApprovalRequest
from lifecycle.testing.admin_forms import policy_form

pytestmark = pytest.mark.django_db


def staff_reviewer(username: str, *roles: str):
    """A reviewer made the README's way: create_api_token with their roles (which makes them staff)."""
    call_command("create_api_token", username, "--groups", ",".join(roles), stdout=io.StringIO(), stderr=io.StringIO())
    user = get_user_model().objects.get(username=username)
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def submitted(workflow, author, version):
    """A version submitted for production by its author."""
    workflow.submit(author, version)
    return ApprovalRequest.objects.get(version=version)


def page_of(request):
    return f"/admin/approvals/approvalrequest/{request.pk}/change/"


def decide(client, request, decision, stage=None, comment="", confirm=True):
    """A decision posted from the request's page; a rejection also confirmed (unless confirm=False)."""
    data = {"decision": decision, "comment": comment}
    if decision == "reject" and confirm:
        data["confirm"] = "yes"
    if stage is not None:
        data["stage_index"] = stage
    return client.post(f"/admin/approvals/approvalrequest/{request.pk}/decide/", data, follow=True)


def test_reviewer__made_staff_with_exactly_their_roles_permissions():
    client = staff_reviewer("quinn", "qa")
    assert client.user.is_staff
    assert client.user.get_all_permissions() == {
        "approvals.view_approvalpolicy",
        "approvals.view_approvalrequest",
        "approvals.view_approvalstage",
        "approvals.view_policystage",
        "approvals.view_reviewqueue",
        "releases.view_deployment",
        "templates_app.view_prompttemplate",
        "templates_app.view_tag",
        "templates_app.view_templateversion",
    }


def test_queue__lists_what_waits_for_the_signed_in_reviewer(submitted):
    technical = staff_reviewer("tina", "technical")
    qa = staff_reviewer("quinn", "qa")
    queue = technical.get("/admin/approvals/reviewqueue/")
    assert queue.status_code == 200
    html = queue.content.decode()
    assert submitted.version.template.name in html
    assert "stage 1 (technical)" in html
    assert submitted.version.template.name not in qa.get("/admin/approvals/reviewqueue/").content.decode()


def test_request_page__content_variables_diff_stages_and_decision_buttons(submitted):
    technical = staff_reviewer("tina", "technical")
    html = technical.get(page_of(submitted)).content.decode()
    assert "Please respond to the customer inquiry" in html  # content
    assert "inquiry" in html
    assert "<td><code>inquiry</code></td><td>string</td><td>required</td>" in html  # variables as a table
    assert "nothing is active in production yet" in html  # the diff's heading
    assert "+Please respond to the customer inquiry" in html  # the diff
    assert "Stage <b>1</b> waits for the <b>technical</b> role" in html
    assert html.count('class="field-role_name"') == 4  # the four stages, shown inline to the reviewer
    assert 'value="approve"' in html
    assert 'value="reject"' in html


@pytest.mark.parametrize(
    ("roles", "reason"),
    [
        (["qa"], "Stage 1 is decided by the &#x27;technical&#x27; role, which you do not hold."),
        (["author", "technical"], "The author of a version cannot decide its approval."),
    ],
)
def test_request_page__reviewer_who_may_not_decide__told_why_and_offered_no_decision(
    make_user, workflow, create_template, submitted, roles, reason
):
    if "author" in roles:  # the version's own author, who also holds the stage's role
        client = staff_reviewer("writer", *roles)
        version = create_template(actor=client.user).latest_version
        workflow.submit(client.user, version)
        submitted = ApprovalRequest.objects.get(version=version)
    else:
        client = staff_reviewer("quinn", *roles)
    html = client.get(page_of(submitted)).content.decode()
    assert f"You cannot decide it: {reason}" in html
    assert 'value="approve"' not in html
    assert 'value="reject"' not in html
    assert 'value="comment"' in html  # anyone signed in may still comment


def test_request_page__diff_against_the_version_active_in_the_environment(
    workflow, author, reviewers, deployer, api, version
):
    from lifecycle.releases.services import create_version_live_in_development as create_version

    workflow.submit(author, version)
    workflow.approve_all(reviewers, version)
    api.as_user(deployer).put(f"/api/versions/{version.pk}/deploy", {"environment": "production"})
    newer = create_version(actor=author, template_id=version.template_id, definition={"content": "New: {{inquiry}}"})
    workflow.submit(author, newer)
    request = ApprovalRequest.objects.get(version=newer)
    html = staff_reviewer("tina", "technical").get(page_of(request)).content.decode()
    assert "against 1.0.0, active in production" in html
    assert "-Please respond" in html
    assert "+New: {{inquiry}}" in html


def test_request_page__a_model_settings_only_change__shown_with_its_version_step(
    workflow, author, reviewers, deployer, api, version
):
    from lifecycle.releases.services import create_version_live_in_development as create_version

    # Given 1.0.0 live in production, and 1.1.0 that only raises the temperature and adds an optional variable
    workflow.submit(author, version)
    workflow.approve_all(reviewers, version)
    api.as_user(deployer).put(f"/api/versions/{version.pk}/deploy", {"environment": "production"})
    newer = create_version(
        actor=author,
        template_id=version.template_id,
        definition={
            "content": version.content,
            "modelConfig": {**version.model_config, "temperature": 0.7},
            "variables": [*version.variables, {"name": "tone", "type": "string", "required": False}],
        },
    )
    workflow.submit(author, newer)
    # When a reviewer opens its request
    html = staff_reviewer("tina", "technical").get(page_of(ApprovalRequest.objects.get(version=newer))).content.decode()
    # Then the page shows both changes, each with the step it needs; the text itself did not change
    assert "against 1.0.0, active in production" in html
    assert "model settings changed" in html
    assert "optional variable &#x27;tone&#x27; added" in html
    assert '<td><code>temperature</code></td><td>0.2</td><td class="changed">0.7</td>' in html
    assert '<tr class="status-added">' in html
    assert "Unchanged." in html  # the content


def test_admin_approve__decides_the_stage_through_the_service(submitted):
    technical = staff_reviewer("tina", "technical")
    response = decide(technical, submitted, "approve", 0, "Reviewed the prompt")
    assert response.status_code == 200
    assert "Stage 1 (technical) approved" in response.content.decode()
    stage = submitted.stages.get(index=0)
    assert (stage.state, stage.decided_by, stage.comment) == ("approved", technical.user, "Reviewed the prompt")
    assert stage.history.first().history_user == technical.user


def test_admin_all_stages__four_reviewers_approve_the_request(submitted):
    for index, role in enumerate(["technical", "qa", "security", "business"]):
        decide(staff_reviewer(f"{role}-person", role), submitted, "approve", index)
    submitted.refresh_from_db()
    assert submitted.state == "approved"


@pytest.mark.parametrize(
    ("who", "stage", "decision", "comment", "message"),
    [
        ("qa", 0, "approve", "", "decided by the &#x27;technical&#x27; role"),
        ("technical", 1, "approve", "", "decided by the &#x27;qa&#x27; role"),
        ("technical", 0, "reject", "", "A comment is required to reject."),
        ("qa+technical", 1, "approve", "", "Stage 1 (technical) is decided before stage 2 (qa)"),
    ],
)
def test_admin_decision__refused_by_the_same_rules_and_nothing_changes(
    submitted, who, stage, decision, comment, message
):
    client = staff_reviewer("someone", *who.split("+"))
    response = decide(client, submitted, decision, stage, comment)
    assert message in response.content.decode()
    submitted.refresh_from_db()
    assert submitted.state == "pending"
    assert not submitted.stages.exclude(state="waiting").exists()


def test_admin_decision__by_the_versions_author__refused(make_user, workflow, create_template):
    writer_client = staff_reviewer("writer", "author", "technical")
    version = create_template(actor=writer_client.user).latest_version
    workflow.submit(writer_client.user, version)
    request = ApprovalRequest.objects.get(version=version)
    response = decide(writer_client, request, "approve", 0)
    assert "author of a version cannot decide" in response.content.decode()
    assert request.stages.get(index=0).state == "waiting"


def test_admin_comment__kept_on_the_request(submitted):
    client = staff_reviewer("quinn", "qa")
    decide(client, submitted, "comment", comment="What about tone?")
    assert list(submitted.comments.values_list("body", flat=True)) == ["What about tone?"]
    assert "What about tone?" in client.get(page_of(submitted)).content.decode()


def test_admin_decide__get_is_refused(submitted):
    client = staff_reviewer("tina", "technical")
    assert client.get(f"/admin/approvals/approvalrequest/{submitted.pk}/decide/").status_code == 403


def test_qa_reviewer__cannot_edit_a_policy_or_a_version(submitted):
    qa = staff_reviewer("quinn", "qa")
    policy = ApprovalPolicy.objects.get(environment="production")
    url = f"/admin/approvals/approvalpolicy/{policy.pk}/change/"
    assert qa.get(url).status_code == 200  # may read it
    response = qa.post(url, {"description": "changed", "stages-TOTAL_FORMS": "0", "stages-INITIAL_FORMS": "0"})
    assert response.status_code == 403
    policy.refresh_from_db()
    assert policy.description == ""
    version_url = f"/admin/templates_app/templateversion/{submitted.version_id}/change/"
    assert qa.post(version_url, {"content": "x"}).status_code == 403
    assert qa.get("/admin/templates_app/templateversion/add/").status_code == 403
    assert qa.get(f"/admin/templates_app/prompttemplate/{submitted.version.template_id}/change/").status_code == 200
    assert (
        qa.post(f"/admin/templates_app/prompttemplate/{submitted.version.template_id}/change/", {}).status_code == 403
    )


def test_superuser__edits_a_policy_with_its_stages_inline(make_user):
    root = Client()
    root.force_login(make_user(superuser=True))
    policy = ApprovalPolicy.objects.get(environment="staging")
    response = root.post(
        f"/admin/approvals/approvalpolicy/{policy.pk}/change/",
        policy_form(policy, ["technical", "qa", "security"]),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert [s.role.name for s in policy.stages.order_by("position")] == ["technical", "qa", "security"]


def test_superuser__development_policy_cannot_get_stages(make_user):
    root = Client()
    root.force_login(make_user(superuser=True))
    policy = ApprovalPolicy.objects.get(environment="development")
    response = root.post(f"/admin/approvals/approvalpolicy/{policy.pk}/change/", policy_form(policy, ["qa"]))
    assert response.status_code == 200
    assert "Development needs no approval" in response.content.decode()
    assert not policy.stages.exists()


def test_superuser__reorders_stages__no_collision_on_positions(make_user):
    root = Client()
    root.force_login(make_user(superuser=True))
    policy = ApprovalPolicy.objects.get(environment="staging")
    response = root.post(
        f"/admin/approvals/approvalpolicy/{policy.pk}/change/", policy_form(policy, ["qa", "technical"])
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert [s.role.name for s in policy.stages.order_by("position")] == ["qa", "technical"]


def test_superuser__cannot_empty_the_production_policy(make_user):
    root = Client()
    root.force_login(make_user(superuser=True))
    policy = ApprovalPolicy.objects.get(environment="production")
    response = root.post(f"/admin/approvals/approvalpolicy/{policy.pk}/change/", policy_form(policy, []))
    assert response.status_code == 200
    assert "without review" in response.content.decode()
    assert policy.stages.count() == 4


def test_admin_decision__acts_on_the_request_on_the_page_not_a_newer_one(workflow, author, reviewers, version):
    # Given a request rejected, and the version submitted again (a new pending request)
    workflow.submit(author, version)
    workflow.reject(reviewers["technical"], version, 0, "no")
    old = ApprovalRequest.objects.get(version=version, state="rejected")
    workflow.submit(author, version)
    new = ApprovalRequest.objects.get(version=version, state="pending")
    # When a reviewer acts on the old request's page
    client = staff_reviewer("tina", "technical")
    response = decide(client, old, "approve", 0)
    decide(client, old, "comment", comment="on the old one")
    # Then it is refused, the new request is untouched, and the comment is on the old one
    assert "rejected: nothing waits" in response.content.decode()
    assert new.stages.get(index=0).state == "waiting"
    assert list(old.comments.values_list("body", flat=True)) == ["on the old one"]
    assert not new.comments.exists()


@pytest.mark.parametrize("object_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_admin_decide__odd_or_unknown_id__404(object_id):
    client = staff_reviewer("tina", "technical")
    response = client.post(
        f"/admin/approvals/approvalrequest/{object_id}/decide/", {"decision": "comment", "comment": "x"}
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"decision": "explode"},
        {"decision": "approve"},
        {"decision": "approve", "stage_index": "x"},
        {"decision": "reject", "stage_index": "0", "confirm": "yes"},
    ],
)
def test_admin_decide__odd_post_data__message_and_nothing_changed(submitted, data):
    client = staff_reviewer("tina", "technical")
    response = client.post(f"/admin/approvals/approvalrequest/{submitted.pk}/decide/", data, follow=True)
    assert response.status_code == 200
    assert response.context["messages"]
    assert not submitted.stages.exclude(state="waiting").exists()


def test_admin_decision__superuser_author__refused(make_user, workflow, create_template):
    root = make_user("author", superuser=True)
    version = create_template(actor=root).latest_version
    workflow.submit(root, version)
    request = ApprovalRequest.objects.get(version=version)
    client = Client()
    client.force_login(root)
    response = decide(client, request, "approve", 0)
    assert "author of a version cannot decide" in response.content.decode()


def test_custom_group_stage__its_members_become_reviewers_in_the_admin(make_user, workflow, author, version):
    from django.contrib.auth.models import Group

    root = Client()
    root.force_login(make_user(superuser=True))
    legal = Group.objects.create(name="legal")
    policy = ApprovalPolicy.objects.get(environment="staging")
    form = policy_form(policy, ["technical", "qa", "legal"])
    assert root.post(f"/admin/approvals/approvalpolicy/{policy.pk}/change/", form).status_code == 302
    lawyer = staff_reviewer("leo", "legal")
    assert lawyer.user.is_staff
    assert lawyer.user.has_perm("approvals.view_approvalrequest")
    assert legal.permissions.filter(codename="view_reviewqueue").exists()
    assert lawyer.get("/admin/approvals/reviewqueue/").status_code == 200


def test_queue_and_pending__queries_do_not_grow_with_requests(
    workflow, author, create_template, api, django_assert_max_num_queries
):
    technical = staff_reviewer("tina", "technical")
    for _ in range(2):
        workflow.submit(author, create_template().latest_version)
    with django_assert_max_num_queries(20) as few:
        technical.get("/admin/approvals/reviewqueue/")
    queue_queries = len(few.captured_queries)
    with django_assert_max_num_queries(20) as few:
        api.as_user(technical.user).get("/api/approval/pending")
    pending_queries = len(few.captured_queries)
    for _ in range(8):
        workflow.submit(author, create_template().latest_version)
    with django_assert_max_num_queries(queue_queries):
        technical.get("/admin/approvals/reviewqueue/")
    with django_assert_max_num_queries(pending_queries):
        assert api.as_user(technical.user).get("/api/approval/pending").json()["count"] == 10


# -- the next step, named on the request's page ----------------------------------------------------------


def next_step(html: str) -> str:
    """The text of the page's "Next step" box, tags and runs of whitespace removed."""
    import re

    box = html[html.index('id="next-step"') :]
    box = box[: box.index("</div>")]
    return " ".join(re.sub(r"<[^>]+>", "", box.split(">", 1)[1]).split())


def test_request_page__pending__names_the_stage_and_the_people_who_may_decide_it(submitted, make_user):
    # Given a request waiting for its first stage, two technical reviewers, and one who left
    tina, ted = staff_reviewer("tina", "technical"), staff_reviewer("ted", "technical")
    gone = make_user("technical", username="gone")
    gone.is_active = False
    gone.save()
    # When anyone signed in opens its page
    html = staff_reviewer("quinn", "qa").get(page_of(submitted)).content.decode()
    # Then it says which stage waits, counted from 1, and who may decide it
    assert "Stage 1 of 4 waits for a decision by the technical role." in next_step(html)
    assert "Who may decide it: ted, tina." in next_step(html)
    # When the first stage is approved, the page names the next stage and its people, not the decider
    decide(tina, submitted, "approve", 0)
    qa_html = tina.get(page_of(submitted)).content.decode()
    assert "Stage 2 of 4 waits for a decision by the qa role." in next_step(qa_html)
    assert "Who may decide it: quinn." in next_step(qa_html)
    assert ted.user.username not in next_step(qa_html)


def test_request_page__nobody_holds_the_stage_role__says_so(submitted, make_user):
    # Given no one but the author holds the technical role
    html = staff_reviewer("quinn", "qa").get(page_of(submitted)).content.decode()
    assert "nobody yet: an administrator must add someone to the \N{LEFT SINGLE QUOTATION MARK}technical" in next_step(
        html
    )


def test_request_page__rejected__later_stages_not_reached_and_the_author_may_resubmit(submitted):
    # Given a request approved at stage 1 and rejected at stage 2
    decide(staff_reviewer("tina", "technical"), submitted, "approve", 0)
    decide(staff_reviewer("quinn", "qa"), submitted, "reject", 1, "Too curt")
    # When its page is opened
    html = staff_reviewer("sam", "security").get(page_of(submitted)).content.decode()
    # Then the stages are numbered from 1, the ones after the rejection read "not reached", and the next step
    # is the author's
    assert _cells(html, "status") == ["approved", "rejected", "not reached", "not reached"]
    assert _cells(html, "stage") == ["1", "2", "3", "4"]
    assert "waiting" not in " ".join(_cells(html, "status"))
    assert "Rejected at stage 2 (qa) by quinn" in next_step(html)
    assert "“Too curt”" in next_step(html)
    assert "the template's authors may submit this version again" in next_step(html)
    assert "stage 0" not in html.lower()


def test_request_page__pending__later_stages_read_not_reached_yet(submitted):
    html = staff_reviewer("tina", "technical").get(page_of(submitted)).content.decode()
    assert _cells(html, "status") == ["waiting for a decision", "not reached yet", "not reached yet", "not reached yet"]


def test_request_page__withdrawn__says_it_ended(workflow, create_template):
    # Given a request its author withdrew
    alice = staff_reviewer("alice", "author")
    request = _submitted_by(workflow, create_template, alice)
    withdraw(alice, request, confirm=True)
    # When a reviewer opens it
    html = staff_reviewer("tina", "technical").get(page_of(request)).content.decode()
    # Then it says who ended it, and that nobody needs to act; its stages were not reached
    assert "Withdrawn by alice on" in next_step(html)
    assert "this request has ended, and nobody needs to act on it" in next_step(html)
    assert set(_cells(html, "status")) == {"not reached"}


def _cells(html: str, field: str) -> list[str]:
    import re

    return [
        " ".join(re.sub(r"<[^>]+>", " ", cell).split())
        for cell in re.findall(rf'<td class="field-{field}">(.*?)</td>', html, re.S)
    ]


def _submitted_by(workflow, create_template, client, environment="production"):
    version = create_template(actor=client.user).latest_version
    assert workflow.submit(client.user, version, environment).status_code == 201
    return ApprovalRequest.objects.get(version=version, environment=environment)


# -- rejecting: a destructive action, confirmed, in human words ----------------------------------------------


def test_request_page__reject_is_styled_as_destructive_and_asks_for_confirmation(submitted):
    html = staff_reviewer("tina", "technical").get(page_of(submitted)).content.decode()
    reject = html[html.index('id="decision-reject"') - 200 : html.index('id="decision-reject"') + 200]
    approve = html[html.index('id="decision-approve"') - 200 : html.index('id="decision-approve"') + 200]
    assert "button-danger" in reject
    assert "Reject…" in reject
    assert "button-danger" not in approve


def test_admin_reject__unconfirmed__asks_for_confirmation_and_changes_nothing(submitted):
    # Given a technical reviewer who pressed "Reject…" with a comment
    tina = staff_reviewer("tina", "technical")
    response = decide(tina, submitted, "reject", 0, "Needs a greeting", confirm=False)
    # Then a confirmation page asks, with the comment kept, and nothing is decided yet
    html = response.content.decode()
    assert response.status_code == 200
    assert "Reject Customer Support Response" in html
    assert 'name="confirm" value="yes" id="confirm"' in html
    assert "Needs a greeting</textarea>" in html
    assert f'href="{page_of(submitted)}" id="cancel"' in html
    assert not submitted.stages.exclude(state="waiting").exists()
    # When they confirm, the stage and the request are rejected, and the message reads well
    confirmed = decide(tina, submitted, "reject", 0, "Needs a greeting")
    assert "Stage 1 (technical) rejected; the request is rejected." in confirmed.content.decode()
    assert "rejectd" not in confirmed.content.decode()
    submitted.refresh_from_db()
    assert submitted.state == "rejected"


def test_admin_reject__confirmed_without_a_comment__asked_again_in_plain_words_and_nothing_changed(submitted):
    tina = staff_reviewer("tina", "technical")
    response = decide(tina, submitted, "reject", 0, "   ")
    html = response.content.decode()
    assert "A comment is required to reject." in html
    assert "Invalid input" not in html
    assert "data.comment" not in html
    assert 'id="confirm"' in html  # asked again, on the confirmation page
    submitted.refresh_from_db()
    assert submitted.state == "pending"
    assert not submitted.stages.exclude(state="waiting").exists()


def test_admin_reject__unconfirmed_by_someone_who_may_not_decide__refused_without_confirmation(submitted):
    response = decide(staff_reviewer("quinn", "qa"), submitted, "reject", 0, "no", confirm=False)
    html = response.content.decode()
    assert "Stage 1 is decided by the &#x27;technical&#x27; role, which you do not hold." in html
    assert 'id="confirm"' not in html
    assert not submitted.stages.exclude(state="waiting").exists()


def test_admin_comment__empty__plain_words_and_nothing_kept(submitted):
    html = decide(staff_reviewer("quinn", "qa"), submitted, "comment", comment="").content.decode()
    assert "Write a comment first." in html
    assert not submitted.comments.exists()


# -- authors: withdraw and resubmit ------------------------------------------------------------------------


def withdraw(client, request, confirm=False):
    data = {"confirm": "yes"} if confirm else {}
    return client.post(f"/admin/approvals/approvalrequest/{request.pk}/withdraw/", data, follow=True)


def resubmit(client, request):
    return client.post(f"/admin/approvals/approvalrequest/{request.pk}/resubmit/", {}, follow=True)


def test_request_page__withdraw_offered_to_the_templates_authors_only(workflow, create_template):
    alice = staff_reviewer("alice", "author")
    request = _submitted_by(workflow, create_template, alice)
    assert 'id="withdraw"' in alice.get(page_of(request)).content.decode()
    for other in (staff_reviewer("tina", "technical"), staff_reviewer("olga", "author")):  # olga: not a maintainer
        assert 'id="withdraw"' not in other.get(page_of(request)).content.decode()


def test_admin_withdraw__confirmed_by_the_author__request_cancelled(workflow, create_template):
    # Given a pending request of alice's template
    alice = staff_reviewer("alice", "author")
    request = _submitted_by(workflow, create_template, alice)
    # When she presses "Withdraw the request…", a confirmation page asks first, and nothing changes yet
    asked = withdraw(alice, request).content.decode()
    assert 'name="confirm" value="yes" id="confirm"' in asked
    request.refresh_from_db()
    assert request.state == "pending"
    # When she confirms, the request is cancelled, by her
    done = withdraw(alice, request, confirm=True).content.decode()
    assert "Request withdrawn: it has ended." in done
    request.refresh_from_db()
    assert request.state == "cancelled"
    assert request.history.first().history_user == alice.user


@pytest.mark.parametrize("who", ["olga:author", "tina:technical"])
def test_admin_withdraw__by_someone_not_maintaining_the_template__refused_and_unchanged(workflow, create_template, who):
    alice = staff_reviewer("alice", "author")
    request = _submitted_by(workflow, create_template, alice)
    username, role = who.split(":")
    html = withdraw(staff_reviewer(username, role), request, confirm=True).content.decode()
    assert "To withdraw its approval requests you need the &#x27;author&#x27; role and to maintain" in html
    request.refresh_from_db()
    assert request.state == "pending"


def test_request_page__rejected__resubmit_offered_to_the_templates_authors_only(workflow, create_template):
    alice = staff_reviewer("alice", "author")
    request = _submitted_by(workflow, create_template, alice)
    decide(staff_reviewer("tina", "technical"), request, "reject", 0, "no")
    assert 'id="resubmit"' in alice.get(page_of(request)).content.decode()
    for other in (staff_reviewer("quinn", "qa"), staff_reviewer("olga", "author")):
        assert 'id="resubmit"' not in other.get(page_of(request)).content.decode()


def test_admin_resubmit__after_a_rejection__a_new_request_from_stage_1(workflow, create_template):
    # Given alice's request rejected at stage 1
    alice = staff_reviewer("alice", "author")
    request = _submitted_by(workflow, create_template, alice)
    decide(staff_reviewer("tina", "technical"), request, "reject", 0, "no")
    # When she resubmits from its page
    response = resubmit(alice, request)
    # Then a new pending request for the same version and environment opens, and its page is shown
    new = ApprovalRequest.objects.get(version=request.version, state="pending")
    assert response.redirect_chain[-1][0] == page_of(new)
    assert "submitted again for production: a new request, from stage 1" in response.content.decode()
    assert (new.environment, new.submitted_by) == ("production", alice.user)
    assert list(new.stages.values_list("state", flat=True)) == ["waiting"] * 4
    # And the old page points to the new request, and offers no second resubmission
    old_html = alice.get(page_of(request)).content.decode()
    assert f'href="{page_of(new)}" id="later-request"' in old_html
    assert 'id="resubmit"' not in old_html


@pytest.mark.parametrize("who", ["olga:author", "quinn:qa"])
def test_admin_resubmit__by_someone_not_maintaining_the_template__refused_and_nothing_opened(
    workflow, create_template, who
):
    alice = staff_reviewer("alice", "author")
    request = _submitted_by(workflow, create_template, alice)
    decide(staff_reviewer("tina", "technical"), request, "reject", 0, "no")
    username, role = who.split(":")
    html = resubmit(staff_reviewer(username, role), request).content.decode()
    assert "To submit its versions for approval you need the &#x27;author&#x27; role" in html
    assert ApprovalRequest.objects.filter(version=request.version).count() == 1


def test_admin_resubmit__while_pending__refused_and_nothing_opened(workflow, create_template):
    alice = staff_reviewer("alice", "author")
    request = _submitted_by(workflow, create_template, alice)
    html = resubmit(alice, request).content.decode()
    assert "already waits for approval in production" in html
    assert ApprovalRequest.objects.filter(version=request.version).count() == 1


# -- what each reader sees -----------------------------------------------------------------------------------


def test_request_page__users_and_groups_as_text__no_links_to_their_admin(submitted):
    decide(staff_reviewer("tina", "technical"), submitted, "approve", 0)
    html = staff_reviewer("quinn", "qa").get(page_of(submitted)).content.decode()
    assert "/admin/auth/" not in html
    assert _cells(html, "decided_by_name")[0] == "tina"
    assert _cells(html, "role_name") == ["technical", "qa", "security", "business"]


def test_policy_page__read_by_a_reviewer__groups_as_text(make_user):
    qa = staff_reviewer("quinn", "qa")
    policy = ApprovalPolicy.objects.get(environment="production")
    html = qa.get(f"/admin/approvals/approvalpolicy/{policy.pk}/change/").content.decode()
    assert "/admin/auth/" not in html
    assert _cells(html, "role_name") == ["technical", "qa", "security", "business"]


def test_request_list__each_role_lists_the_requests_it_has_a_part_in(workflow, create_template):
    # Given alice's request for production (4 stages) and for staging (technical, qa), and olga's for staging
    alice, olga = staff_reviewer("alice", "author"), staff_reviewer("olga", "author")
    production = _submitted_by(workflow, create_template, alice, "production")
    staging = _submitted_by(workflow, create_template, alice, "staging")
    olgas = _submitted_by(workflow, create_template, olga, "staging")

    def listed(client):
        html = client.get("/admin/approvals/approvalrequest/").content.decode()
        return {request for request in (production, staging, olgas) if page_of(request) in html}

    # Then reviewers list the requests with a stage of their role; authors those of their templates
    assert listed(staff_reviewer("sam", "security")) == {production}
    assert listed(staff_reviewer("tina", "technical")) == {production, staging, olgas}
    assert listed(alice) == {production, staging}
    assert listed(olga) == {olgas}
    # And a request outside one's list still opens, as over the API
    assert staff_reviewer("sam2", "security").get(page_of(staging)).status_code == 200


def test_request_history_page__a_reviewer__names_without_links_to_the_user_admin(submitted):
    # The user admin is for superusers: a link to it would be a 403 for a reviewer
    page = staff_reviewer("tina", "technical").get(f"{page_of(submitted).removesuffix('change/')}history/")
    html = page.content.decode()
    assert page.status_code == 200
    assert submitted.submitted_by.username in html
    assert "/admin/auth/user/" not in html


def test_review_queue__titled_by_its_name(submitted):
    html = staff_reviewer("tina", "technical").get("/admin/approvals/reviewqueue/").content.decode()
    assert "<h1>Requests waiting for me</h1>" in html
