"""Approval workflows over the API: policies, order, roles, the author, one decider per stage, rejection."""

from __future__ import annotations

from functools import partial

import pytest
from django_fsm import TransitionNotAllowed

from approvals.models import ApprovalPolicy, ApprovalRequest, ApprovalStage, PolicyStage
from lifecycle.releases.services import create_version_live_in_development as create_version
from lifecycle.testing.concurrency import at_once

pytestmark = pytest.mark.django_db


def test_policies__seeded_defaults():
    def stages(environment):
        policy = ApprovalPolicy.objects.get(environment=environment)
        return [stage.role.name for stage in policy.stages.order_by("position")]

    assert stages("development") == []
    assert stages("staging") == ["technical", "qa"]
    assert stages("production") == ["technical", "qa", "security", "business"]


def test_submit__by_author__pending_with_one_stage_per_policy_stage(workflow, author, version):
    response = workflow.submit(author, version)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["versionId"] == str(version.pk)
    assert body["environment"] == "production"
    assert body["status"] == "pending"
    assert body["submittedBy"] == author.username
    assert [(s["index"], s["role"], s["status"], s["decidedBy"]) for s in body["stages"]] == [
        (0, "technical", "waiting", None),
        (1, "qa", "waiting", None),
        (2, "security", "waiting", None),
        (3, "business", "waiting", None),
    ]


def test_submit__staging__two_stages(workflow, author, version):
    body = workflow.submit(author, version, "staging").json()
    assert [s["role"] for s in body["stages"]] == ["technical", "qa"]


def test_submit__second_pending_for_same_pair__409(workflow, author, version):
    assert workflow.submit(author, version).status_code == 201
    response = workflow.submit(author, version)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_pending"
    assert ApprovalRequest.objects.filter(version=version).count() == 1


def test_submit__other_environment_while_pending__allowed(workflow, author, version):
    production = workflow.submit(author, version, "production")
    staging = workflow.submit(author, version, "staging")
    # Two requests, each pending with its own environment's stages
    assert (production.status_code, staging.status_code) == (201, 201)
    assert [s["role"] for s in staging.json()["stages"]] == ["technical", "qa"]
    pending = ApprovalRequest.objects.filter(version=version, state="pending")
    assert sorted(pending.values_list("environment", flat=True)) == ["production", "staging"]


def test_submit__development__409_needs_no_approval(workflow, author, version):
    response = workflow.submit(author, version, "development")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_approved"


def test_submit__without_author_role__403_and_nothing_written(workflow, reviewers, version):
    response = workflow.submit(reviewers["technical"], version)
    assert response.status_code == 403
    assert not ApprovalRequest.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"versionId": "00000000-0000-0000-0000-000000000000", "environment": "production"}, 404, None),
        ({"versionId": "nope", "environment": "production"}, 400, "versionId"),
        ({"environment": "production"}, 400, "versionId"),
        ({"versionId": "00000000-0000-0000-0000-000000000000", "environment": "prod"}, 400, "environment"),
    ],
)
def test_submit__bad_input__4xx(api, author, body, status, field):
    response = api.as_user(author).post("/api/approval/submit", body)
    assert response.status_code == status
    if field:
        assert field in response.json()["error"]["fields"]


def test_approve__all_stages_in_order_by_four_reviewers__request_approved(workflow, author, reviewers, version):
    workflow.submit(author, version)
    body = workflow.approve_all(reviewers, version).json()
    assert body["status"] == "approved"
    assert [(s["status"], s["decidedBy"], s["comment"]) for s in body["stages"]] == [
        ("approved", reviewers[role].username, f"{role} ok") for role in ("technical", "qa", "security", "business")
    ]
    assert body["decidedAt"] is not None


def test_approve__not_the_last_stage__request_still_pending(workflow, author, reviewers, version):
    workflow.submit(author, version)
    body = workflow.approve(reviewers["technical"], version, 0).json()
    assert body["status"] == "pending"
    assert [s["status"] for s in body["stages"]] == ["approved", "waiting", "waiting", "waiting"]


def test_approve__later_stage_first__409_out_of_order(workflow, author, reviewers, version):
    workflow.submit(author, version)
    response = workflow.approve(reviewers["qa"], version, 1)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "stage_out_of_order"
    assert not ApprovalStage.objects.filter(state="approved").exists()


def test_approve__decided_stage_again__409(workflow, author, reviewers, make_user, version):
    workflow.submit(author, version)
    workflow.approve(reviewers["technical"], version, 0)
    response = workflow.approve(make_user("technical"), version, 0)
    assert response.status_code == 409


def test_approve__without_the_stage_role__403_wrong_role(workflow, author, reviewers, version):
    workflow.submit(author, version)
    response = workflow.approve(reviewers["qa"], version, 0)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "wrong_role"


def test_approve__by_the_version_author__403_even_with_the_role_or_superuser(workflow, make_user, create_template):
    writer = make_user("author", "technical", superuser=True)
    version = create_template(actor=writer).latest_version
    workflow.submit(writer, version)
    response = workflow.approve(writer, version, 0)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "self_approval"


def test_approve__superuser_not_author__may_decide_any_stage(workflow, author, make_user, version):
    workflow.submit(author, version)
    root = make_user(superuser=True)
    response = workflow.approve(root, version, 0)
    # The technical stage is decided by the superuser, and the qa stage waits next
    assert response.status_code == 200
    stages = response.json()["stages"]
    assert (stages[0]["status"], stages[0]["decidedBy"]) == ("approved", root.username)
    assert stages[1]["status"] == "waiting"


def test_approve__one_person_two_stages__403_second(workflow, author, make_user, version):
    both = make_user("technical", "qa")
    workflow.submit(author, version)
    assert workflow.approve(both, version, 0).status_code == 200
    response = workflow.approve(both, version, 1)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "already_decided_a_stage"


def test_approve__no_pending_request__404_or_409(workflow, author, reviewers, version):
    assert workflow.approve(reviewers["technical"], version, 0).status_code == 404
    workflow.submit(author, version)
    workflow.approve_all(reviewers, version)
    response = workflow.approve(reviewers["technical"], version, 0)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_pending"


def test_approve__environment_left_out__the_only_pending_request(workflow, author, reviewers, version):
    workflow.submit(author, version, "staging")
    assert workflow.approve(reviewers["technical"], version, 0, environment=None).status_code == 200
    workflow.submit(author, version, "production")
    response = workflow.approve(reviewers["qa"], version, 1, environment=None)
    assert response.status_code == 400
    assert "environment" in response.json()["error"]["fields"]


@pytest.mark.parametrize("stage", [-1, 9, "0", 0.0, None, True])
def test_approve__bad_stage_index__400(workflow, author, reviewers, version, stage):
    workflow.submit(author, version)
    response = workflow.approve(reviewers["technical"], version, stage)
    assert response.status_code == 400


def test_reject__with_comment__request_rejected_and_author_may_submit_again(workflow, author, reviewers, version):
    workflow.submit(author, version)
    workflow.approve(reviewers["technical"], version, 0)
    response = workflow.reject(reviewers["qa"], version, 1, "Fails the tone tests")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "rejected"
    assert [s["status"] for s in body["stages"]] == ["approved", "rejected", "waiting", "waiting"]
    assert body["stages"][1]["comment"] == "Fails the tone tests"

    again = workflow.submit(author, version)
    assert again.status_code == 201
    assert again.json()["status"] == "pending"
    states = sorted(ApprovalRequest.objects.filter(version=version).values_list("state", flat=True))
    assert states == ["pending", "rejected"]


@pytest.mark.parametrize("comment", ["", "   "])
def test_reject__without_comment__400_and_nothing_changed(workflow, author, reviewers, version, comment):
    workflow.submit(author, version)
    response = workflow.reject(reviewers["technical"], version, 0, comment)
    assert response.status_code == 400
    assert "data.comment" in response.json()["error"]["fields"]
    assert ApprovalRequest.objects.get(version=version).state == "pending"


def test_reject__rules_of_deciding_hold(workflow, author, reviewers, version):
    workflow.submit(author, version)
    assert workflow.reject(reviewers["qa"], version, 0, "no").status_code == 403
    assert workflow.reject(author, version, 0, "no").status_code == 403
    assert workflow.reject(reviewers["qa"], version, 1, "no").status_code == 409  # right role, not yet its turn
    assert workflow.reject(reviewers["technical"], version, 1, "no").status_code == 403  # wrong role


def test_policy_change__applies_to_later_requests_not_in_flight(
    workflow, author, reviewers, create_template, make_user
):
    from django.test import Client

    from lifecycle.testing.admin_forms import policy_form

    # Given a request in flight under the four-stage production policy
    first = create_template().latest_version
    workflow.submit(author, first)
    # When a superuser removes the security stage in the admin
    root = Client()
    root.force_login(make_user(superuser=True))
    policy = ApprovalPolicy.objects.get(environment="production")
    form = policy_form(policy, ["technical", "qa", "business"])
    response = root.post(f"/admin/approvals/approvalpolicy/{policy.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    # Then the request in flight keeps four stages, and a new one gets three
    second = create_template().latest_version
    later = workflow.submit(author, second).json()
    assert [s["role"] for s in later["stages"]] == ["technical", "qa", "business"]
    in_flight = ApprovalRequest.objects.get(version=first)
    assert list(in_flight.stages.values_list("role__name", flat=True)) == ["technical", "qa", "security", "business"]
    workflow.approve(reviewers["technical"], first, 0)
    workflow.approve(reviewers["qa"], first, 1)
    assert workflow.approve(reviewers["security"], first, 2).json()["status"] == "pending"


def test_policy_without_stages__refused_never_approved_at_once(workflow, author, version):
    PolicyStage.objects.filter(policy__environment="staging").delete()
    response = workflow.submit(author, version, "staging")
    assert response.status_code == 409
    assert "no stages" in response.json()["error"]["message"]
    assert not ApprovalRequest.objects.exists()


def test_submit__environment_missing__400_not_production_by_default(api, author, version):
    response = api.as_user(author).post("/api/approval/submit", {"versionId": str(version.pk)})
    assert response.status_code == 400
    assert "environment" in response.json()["error"]["fields"]


def test_stage_role__group_renamed__same_people_still_decide(workflow, author, reviewers, version):
    from django.contrib.auth.models import Group

    workflow.submit(author, version)
    Group.objects.filter(name="technical").update(name="engineering")
    response = workflow.approve(reviewers["technical"], version, 0)
    assert response.status_code == 200, response.json()
    assert response.json()["stages"][0]["role"] == "engineering"
    Group.objects.filter(name="engineering").update(name="technical")


def test_custom_group_stage__its_members_decide_and_see_the_queue(api, workflow, author, make_user, version):
    from django.contrib.auth.models import Group

    legal = Group.objects.create(name="legal")
    policy = ApprovalPolicy.objects.get(environment="staging")
    PolicyStage.objects.create(policy=policy, position=2, role=legal)
    lawyer = make_user("legal")
    workflow.submit(author, version, "staging")
    assert api.as_user(lawyer).get("/api/approval/pending").json()["count"] == 0  # stage 2 is not current yet
    for index, role in enumerate(["technical", "qa"]):
        assert workflow.approve(make_user(role), version, index, environment="staging").status_code == 200
    assert api.as_user(lawyer).get("/api/approval/pending").json()["count"] == 1
    assert workflow.approve(lawyer, version, 2, environment="staging").json()["status"] == "approved"


def test_newer_version__does_not_cancel_older_request(workflow, author, version):
    workflow.submit(author, version)
    newer = create_version(actor=author, template_id=version.template_id, definition={"content": "New {{inquiry}}"})
    workflow.submit(author, newer)
    assert ApprovalRequest.objects.get(version=version).state == "pending"


def test_cancel__by_author__cancelled_by_others__403(api, workflow, author, reviewers, version):
    workflow.submit(author, version)
    body = {"versionId": str(version.pk), "environment": "production"}
    assert api.as_user(reviewers["qa"]).post("/api/approval/cancel", body).status_code == 403
    response = api.as_user(author).post("/api/approval/cancel", body)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert workflow.approve(reviewers["technical"], version, 0).status_code == 409


def test_comment__by_a_stage_reviewer__kept_with_who_and_when(api, workflow, author, reviewers, version):
    workflow.submit(author, version)
    response = api.as_user(reviewers["security"]).post(
        "/api/approval/comment", {"versionId": str(version.pk), "environment": "production", "comment": "Why?"}
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["author"], body["comment"]) == (reviewers["security"].username, "Why?")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"versionId": "00000000-0000-0000-0000-000000000000", "comment": "x"}, 404),
        ({"comment": "x"}, 400),
        ({"versionId": "00000000-0000-0000-0000-000000000000", "comment": ""}, 400),
        ({"versionId": "00000000-0000-0000-0000-000000000000", "comment": 5}, 400),
    ],
)
def test_comment__bad_input__4xx(api, author, body, status):
    assert api.as_user(author).post("/api/approval/comment", body).status_code == status


def test_request_detail__stages_comments_and_history_in_order(api, workflow, author, reviewers, reader, version):
    request_id = workflow.submit(author, version).json()["id"]
    workflow.approve(reviewers["technical"], version, 0, "fine")
    api.as_user(reviewers["business"]).post(
        "/api/approval/comment", {"versionId": str(version.pk), "environment": "production", "comment": "Looks ok"}
    )
    workflow.reject(reviewers["qa"], version, 1, "Needs work")

    body = api.as_user(reader).get(f"/api/approval/requests/{request_id}").json()
    assert body["status"] == "rejected"
    assert [c["comment"] for c in body["comments"]] == ["Looks ok"]
    assert [(e["event"], e["by"]) for e in body["history"]] == [
        ("submitted", author.username),
        ("stage approved", reviewers["technical"].username),
        ("commented", reviewers["business"].username),
        ("stage rejected", reviewers["qa"].username),
        ("rejected", reviewers["qa"].username),
    ]
    times = [e["at"] for e in body["history"]]
    assert times == sorted(times)


def test_request_detail__unknown__404(api, reader):
    assert api.as_user(reader).get("/api/approval/requests/00000000-0000-0000-0000-000000000000").status_code == 404


def test_states__change_only_through_transitions_and_are_audited(workflow, author, reviewers, version):
    workflow.submit(author, version)
    workflow.approve(reviewers["technical"], version, 0)
    request = ApprovalRequest.objects.get(version=version)
    stage = request.stages.get(index=0)
    with pytest.raises(AttributeError):
        request.state = "approved"
    with pytest.raises(AttributeError):
        stage.state = "waiting"
    with pytest.raises(TransitionNotAllowed):
        stage.approve(by=reviewers["qa"], comment="")
    record = stage.history.first()
    assert (record.state, record.history_user) == ("approved", reviewers["technical"])
    assert request.history.earliest().history_user == author


def test_pending__reviewer_sees_what_they_may_decide_oldest_first(
    api, workflow, author, reviewers, create_template, make_user
):
    first = create_template().latest_version
    second = create_template().latest_version
    workflow.submit(author, first)
    workflow.submit(author, second, "staging")

    def waiting_for(user, **params):
        response = api.as_user(user).get("/api/approval/pending", data=params)
        assert response.status_code == 200
        return [
            (item["versionId"], item["environment"], item["currentStage"]["index"])
            for item in response.json()["results"]
        ]

    assert waiting_for(reviewers["technical"]) == [(str(first.pk), "production", 0), (str(second.pk), "staging", 0)]
    assert waiting_for(reviewers["qa"]) == []
    workflow.approve(reviewers["technical"], second, 0, environment="staging")
    assert waiting_for(reviewers["qa"]) == [(str(second.pk), "staging", 1)]
    assert waiting_for(reviewers["technical"]) == [(str(first.pk), "production", 0)]
    # Their own queue by name, and another reviewer's queue by a superuser
    assert waiting_for(reviewers["qa"], approverId=reviewers["qa"].username) == [(str(second.pk), "staging", 1)]
    root = make_user(superuser=True)
    assert waiting_for(root, approverId=reviewers["qa"].username) == [(str(second.pk), "staging", 1)]


def test_pending__item_says_template_stage_and_how_long(api, workflow, author, reviewers, version):
    workflow.submit(author, version)
    item = api.as_user(reviewers["technical"]).get("/api/approval/pending").json()["results"][0]
    assert item["templateName"] == version.template.name
    assert item["version"] == "1.0.0"
    assert item["currentStage"] == {"index": 0, "role": "technical"}
    assert item["waitingSeconds"] >= 0
    assert item["waitingSince"] == item["submittedAt"]


def test_pending__excludes_own_versions_and_requests_already_decided_by_them(api, workflow, make_user, create_template):
    writer = make_user("author", "technical")
    both = make_user("technical", "qa")
    own = create_template(actor=writer).latest_version
    workflow.submit(writer, own)
    assert api.as_user(writer).get("/api/approval/pending").json()["count"] == 0
    workflow.approve(both, own, 0)
    assert api.as_user(both).get("/api/approval/pending").json()["count"] == 0  # stage 1 is qa, but not for them


def test_pending__unknown_approver_asked_by_a_superuser__400(api, make_user):
    response = api.as_user(make_user(superuser=True)).get("/api/approval/pending?approverId=nobody")
    assert response.status_code == 400
    assert "approverId" in response.json()["error"]["fields"]


def test_pending__another_queue_asked_by_a_non_superuser__403_whether_or_not_the_name_exists(api, reader, reviewers):
    # The refusal is the same for an existing and an unknown name: it tells nothing about usernames
    known = api.as_user(reader).get(f"/api/approval/pending?approverId={reviewers['qa'].username}")
    unknown = api.as_user(reader).get("/api/approval/pending?approverId=nobody")
    assert known.status_code == unknown.status_code == 403
    assert known.json() == unknown.json()


def test_version__approved_for_production_after_the_last_stage(api, workflow, author, reviewers, version):
    workflow.submit(author, version)
    assert api.as_user(author).get(f"/api/versions/{version.pk}").json()["approvedFor"] == ["development"]
    workflow.approve_all(reviewers, version)
    assert api.get(f"/api/versions/{version.pk}").json()["approvedFor"] == ["development", "production"]


def test_template_history__includes_approvals(api, workflow, author, reviewers, reader, version):
    workflow.submit(author, version)
    workflow.approve(reviewers["technical"], version, 0, "fine")
    entries = api.as_user(reader).get(f"/api/templates/{version.template_id}/history").json()["results"]
    summaries = [entry["summary"] for entry in entries]
    assert "approval of version 1.0.0 for production requested" in summaries
    assert "stage 1 (technical) of 1.0.0 for production approved: fine" in summaries  # numbered from 1 for people


# -- at the same moment --


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


@pytest.mark.parametrize("name", ["a\x00b", "x" * 151])
def test_pending__approver_name_no_username_can_be__400_naming_it(api, make_user, name):
    # A NUL cannot even be looked up on PostgreSQL (it was a 500 there, found by fuzzing)
    response = api.as_user(make_user(superuser=True)).get("/api/approval/pending", data={"approverId": name})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["approverId"]


@pytest.mark.parametrize("value", [5, False, ["x"]])
def test_decision__version_id_not_a_string__400_naming_it(api, workflow, author, reviewers, version, value):
    workflow.submit(author, version)
    response = api.as_user(reviewers["technical"]).post(
        "/api/approval/approve", {"versionId": value, "environment": "production", "data": {"stageIndex": 0}}
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["versionId"]
