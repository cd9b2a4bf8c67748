"""Render with a subjectId while an A/B test runs, and POST /api/abtests/{id}/assign: the subject's variant,
deterministic and sticky, the same from both; the control while paused; the active version without a
subject or once the test ended. Render keeps its one query and writes nothing."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from promptrender.assignment import choose_variant

from abtesting import serving
from abtesting.services import create_test, pause_test, start_test, stop_test
from lifecycle.releases.services import deploy_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def live(approved_in_production, runner):
    """1.0.0 deployed to production; a test of 1.0.0 (control) against 1.0.1, 50/50, running there."""
    subject = approved_in_production
    deploy_version(actor=runner, version_id=subject.versions[0].pk, environment="production")
    test = create_test(actor=subject.author, **subject.service_payload())
    start_test(actor=runner, test_id=test.pk)
    subject.test = test
    return subject


def render(api, template_id, **body):
    return api.client.post(
        f"/api/templates/{template_id}/render",
        {"environment": "production", "variables": {"inquiry": "Where is my order?"}, **body},
        format="json",
    )


def assign(api, test_id, subject_id):
    return api.client.post(f"/api/abtests/{test_id}/assign", {"subjectId": subject_id}, format="json")


def test_render__subject_while_a_test_runs__its_variant_sticky_and_as_assign_says(api, live, reader):
    api.as_user(reader)
    versions = {str(version.pk): version for version in live.versions}
    seen = {}
    for number in range(40):
        subject_id = f"user-{number}"
        body = render(api, live.template.pk, subjectId=subject_id).json()
        # Then the subject's variant: the bucket computed from the test and the subject
        expected = ["control", "variant-a"][choose_variant(str(live.test.pk), subject_id, [50, 50])]
        assert (body["abTestId"], body["variantId"]) == (str(live.test.pk), expected)
        assert body["versionId"] == str(live.versions[0 if expected == "control" else 1].pk)
        content = versions[body["versionId"]].definition().content
        assert body["rendered"] == content.replace("{{inquiry}}", "Where is my order?")
        # And the same on every call, and from the assign endpoint
        assert render(api, live.template.pk, subjectId=subject_id).json()["variantId"] == expected
        assigned = assign(api, live.test.pk, subject_id).json()
        assert (assigned["variantId"], assigned["templateVersionId"]) == (expected, body["versionId"])
        seen[subject_id] = expected
    assert set(seen.values()) == {"control", "variant-a"}


def test_assign__subject_with_surrounding_spaces__hashed_as_sent_as_render_does(api, live, reader):
    # Given subjects whose ids begin or end with whitespace (an integration's ids are opaque: kept as sent)
    api.as_user(reader)
    for subject_id in [f" user-{number}" for number in range(20)] + ["\fuser-1\t", "   "]:
        # When render and assign are asked for each
        served = render(api, live.template.pk, subjectId=subject_id).json()["variantId"]
        assigned = assign(api, live.test.pk, subject_id).json()["variantId"]
        # Then both answer the bucket of the id as sent, not of the id trimmed
        expected = ["control", "variant-a"][choose_variant(str(live.test.pk), subject_id, [50, 50])]
        assert served == assigned == expected


def test_render__no_subject__the_active_version_and_no_test(api, live, reader):
    body = render(api.as_user(reader), live.template.pk).json()
    assert body["versionId"] == str(live.versions[0].pk)
    assert "abTestId" not in body
    assert "variantId" not in body


def test_render__test_paused__everyone_gets_the_control(api, live, reader, runner):
    pause_test(actor=runner, test_id=live.test.pk)
    api.as_user(reader)
    for number in range(20):
        body = render(api, live.template.pk, subjectId=f"user-{number}").json()
        assert (body["abTestId"], body["variantId"], body["versionId"]) == (
            str(live.test.pk),
            "control",
            str(live.versions[0].pk),
        )
    assert assign(api, live.test.pk, "user-1").json()["variantId"] == "control"


def test_render__test_stopped__the_active_version_again_and_assign_409(api, live, reader, runner):
    stop_test(actor=runner, test_id=live.test.pk)
    api.as_user(reader)
    body = render(api, live.template.pk, subjectId="user-1").json()
    assert (body["versionId"], "abTestId" in body) == (str(live.versions[0].pk), False)
    answer = assign(api, live.test.pk, "user-1")
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "abtest_not_live")


def test_render__other_environment__not_in_the_test(api, live, reader):
    body = render(api.as_user(reader), live.template.pk, subjectId="user-1", environment="development").json()
    assert "abTestId" not in body


def test_render__session_user__the_same_variant_as_a_token(api, live, reader):
    # DRF's way (a signed-in session, not a token) chooses the same way
    token_answer = render(api.as_user(reader), live.template.pk, subjectId="user-7").json()
    session = Client()
    session.force_login(reader)
    session_answer = session.post(
        f"/api/templates/{live.template.pk}/render",
        {"environment": "production", "variables": {"inquiry": "Where is my order?"}, "subjectId": "user-7"},
        content_type="application/json",
    ).json()
    assert (session_answer["variantId"], session_answer["versionId"]) == (
        token_answer["variantId"],
        token_answer["versionId"],
    )


def test_render__with_a_subject__one_query_and_no_write(api, live, reader, django_assert_num_queries):
    api.as_user(reader)
    # Given both variants rendered once (the test's variants and both compiled versions now in memory)
    seed = str(live.test.pk)
    first_of = {choose_variant(seed, f"user-{number}", [50, 50]): f"user-{number}" for number in range(50)}
    for subject_id in first_of.values():
        render(api, live.template.pk, subjectId=subject_id)
    with CaptureQueriesContext(connection) as queries:
        assert render(api, live.template.pk, subjectId="user-999").status_code == 200
    assert len(queries) == 1, [query["sql"] for query in queries]
    assert queries[0]["sql"].lstrip().upper().startswith("SELECT")


def test_variants_kept_per_process__read_once(live, django_assert_num_queries):
    serving._kept.clear()
    serving.test_variants(live.test.pk)
    with django_assert_num_queries(0):
        variants = serving.test_variants(live.test.pk)
    assert [variant.key for variant in variants.variants] == ["control", "variant-a"]
    assert variants.percentages == (50.0, 50.0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "subjectId"),
        ({"subjectId": ""}, "subjectId"),
        ({"subjectId": 7}, "subjectId"),
        ({"subjectId": "x" * 201}, "subjectId"),
    ],
)
def test_assign__bad_subject__400_naming_it(api, live, reader, body, field):
    answer = api.as_user(reader).client.post(f"/api/abtests/{live.test.pk}/assign", body, format="json")
    assert answer.status_code == 400
    assert field in answer.json()["error"]["fields"]


def test_assign__unknown_test__404_and_signed_out__401(api, reader):
    unknown = "0b5c3e4e-2f5d-4c38-9a51-3c8f2a7d9e10"
    assert assign(api.as_user(reader), unknown, "user-1").status_code == 404
    assert assign(api.anonymous(), unknown, "user-1").status_code == 401


def test_render__bad_subject__400(api, live, reader):
    answer = render(api.as_user(reader), live.template.pk, subjectId="")
    assert answer.status_code == 400
    assert "subjectId" in answer.json()["error"]["fields"]


def test_render__in_a_test__the_documented_keys(api, live, reader):
    from lifecycle.releases.api.serializers import RenderOutput

    body = render(api.as_user(reader), live.template.pk, subjectId="user-1").json()
    assert set(RenderOutput().fields) - set(body) == {"messages"}


# -- promote: the layer that owns deployments composes it (lifecycle.releases.services.promote_variant) --


def promote(api, test_id, variant_id):
    return api.client.post(f"/api/abtests/{test_id}/promote", {"variantId": variant_id}, format="json")


def test_promote__deployer__variant_deployed_test_completed_with_its_winner(api, live, reader, runner):
    answer = promote(api.as_user(runner), live.test.pk, "variant-a")
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["test"]["status"], body["test"]["winner"]) == ("completed", "variant-a")
    assert (body["deployment"]["versionId"], body["deployment"]["environment"]) == (
        str(live.versions[1].pk),
        "production",
    )
    # Then production serves the variant's version to everyone, subject or not
    for subject_id in (None, "user-1", "user-2"):
        extra = {"subjectId": subject_id} if subject_id else {}
        rendered = render(api.as_user(reader), live.template.pk, **extra).json()
        assert (rendered["versionId"], "abTestId" in rendered) == (str(live.versions[1].pk), False)


def test_promote__the_control__test_completed_and_what_serves_unchanged(api, live, runner):
    body = promote(api.as_user(runner), live.test.pk, "control").json()
    assert (body["test"]["winner"], body["deployment"]["versionId"]) == ("control", str(live.versions[0].pk))


@pytest.mark.parametrize("variant_id", ["nope", "", 7])
def test_promote__not_a_variant__400_and_nothing_changed(api, live, runner, variant_id):
    answer = promote(api.as_user(runner), live.test.pk, variant_id)
    assert answer.status_code == 400
    assert "variantId" in answer.json()["error"]["fields"]
    live.test.refresh_from_db()
    assert live.test.state == "running"


def test_promote__not_a_deployer__403_and_nothing_changed(api, live):
    answer = promote(api.as_user(live.author), live.test.pk, "variant-a")
    assert answer.status_code == 403
    live.test.refresh_from_db()
    assert live.test.state == "running"


def test_promote__draft_or_ended__409(api, approved_in_production, runner):
    subject = approved_in_production
    draft = create_test(actor=subject.author, **subject.service_payload())
    answer = promote(api.as_user(runner), draft.pk, "variant-a")
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "illegal_transition")


def test_promote__twice__the_second_409(api, live, runner):
    assert promote(api.as_user(runner), live.test.pk, "variant-a").status_code == 200
    assert promote(api.as_user(runner), live.test.pk, "control").status_code == 409


def test_promote__unknown_test__404(api, runner):
    assert promote(api.as_user(runner), "0b5c3e4e-2f5d-4c38-9a51-3c8f2a7d9e10", "control").status_code == 404


# -- the end date: the beat's task completes the test ------------------------------------------------------


def test_stop_ended_tests__end_date_come__completed_and_render_serves_the_active_version(api, live, reader):
    from datetime import timedelta

    from django.utils import timezone

    from abtesting.models import ABTest
    from abtesting.services import stop_ended_tests
    from abtesting.tasks import stop_ended_tests_task

    ABTest.objects.filter(pk=live.test.pk).update(end_date=timezone.now() + timedelta(hours=1))
    assert stop_ended_tests() == []  # not yet
    ABTest.objects.filter(pk=live.test.pk).update(end_date=timezone.now() - timedelta(seconds=1))
    assert stop_ended_tests_task.delay().get() == 1
    live.test.refresh_from_db()
    assert live.test.state == "completed"
    assert "end date" in live.test.stop_reason
    assert live.test.stopped_by is None
    assert live.test.history.first().history_user is None
    body = render(api.as_user(reader), live.template.pk, subjectId="user-1").json()
    assert "abTestId" not in body
    assert stop_ended_tests() == []  # once


def test_beat__schedules_the_end_date_check():
    from lifecycle.celery import app

    app.finalize(auto=True)  # as the worker and beat do at start: this schedules beat's tasks
    assert "abtesting.stop_ended_tests" in {entry["task"] for entry in app.conf.beat_schedule.values()}
