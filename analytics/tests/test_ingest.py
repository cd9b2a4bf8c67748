"""Ingestion: single and batch reports, all-or-nothing batches, idempotency, every bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from analytics import histogram
from analytics.models import Execution, HourlyStats, LatencyHistogram, PendingBatch, VariantSubject, VariantSubjectCount
from analytics.rollups import roll_up_pending
from lifecycle.releases.services import create_version_live_in_development as create_version
from lifecycle.testing.concurrency import at_once
from lifecycle.testing.factories import ExecutionReportFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_record__readme_payload__201_stored_as_reported(api, integration, version):
    body = ExecutionReportFactory(
        version=version, metadata={"userAgent": "Mozilla/5.0", "region": "eu-central-1", "requestId": "req-789"}
    )
    response = api.as_user(integration).post("/api/executions", body)
    assert response.status_code == 201, response.json()
    stored = response.json()
    assert stored["templateVersionId"] == str(version.pk)
    assert stored["templateId"] == str(version.template_id)
    assert stored["tokenUsage"] == {"inputTokens": 15, "outputTokens": 45, "totalTokens": 60, "cost": 0.002}
    assert stored["metadata"] == {"userAgent": "Mozilla/5.0", "region": "eu-central-1", "requestId": "req-789"}
    assert (stored["status"], stored["responseTime"], stored["environment"]) == ("success", 1200, "production")
    assert stored["input"] == '{"inquiry": "How do I reset my password?"}'
    assert stored["output"] == "To reset your password, please..."
    assert Execution.objects.count() == 1


def test_record__same_request_id_again__200_receipt_revealing_nothing_stored_once(api, integration, version):
    # Given an execution stored with a request id
    body = ExecutionReportFactory(version=version, metadata={"requestId": "req-1"})
    first = api.as_user(integration).post("/api/executions", body)
    # When the same template's version reports that request id again, with other contents
    second = api.as_user(integration).post("/api/executions", {**body, "responseTime": 5, "userId": "someone-else"})
    # Then it is a duplicate: a 200 receipt naming the stored execution and echoing what was sent, nothing more
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["duplicate"] is False
    assert second.json() == {
        "id": first.json()["id"],
        "templateId": str(version.template_id),
        "templateVersionId": str(version.pk),
        "requestId": "req-1",
        "duplicate": True,
    }
    # And the stored execution is the first report, stored once, counted once
    assert list(Execution.objects.values_list("response_time_ms", "user_ref")) == [(1200, "user-456")]
    roll_up_pending()
    assert HourlyStats.objects.get().executions == 1


def test_record__request_id_another_template_used__a_new_execution_and_nothing_of_the_other_revealed(
    api, integration, version, create_template
):
    # Given another template's execution, stored with a request id, its input, output and user
    other = create_template().latest_version
    theirs = ExecutionReportFactory(
        version=other, metadata={"requestId": "shared"}, input="their secret", output="their answer", userId="u-1"
    )
    assert api.as_user(integration).post("/api/executions", theirs).status_code == 201
    # When this template's version reports the same request id
    response = api.as_user(integration).post(
        "/api/executions", ExecutionReportFactory(version=version, metadata={"requestId": "shared"})
    )
    # Then it is stored as an execution of its own: a 201 with this report's contents only
    assert response.status_code == 201, response.json()
    stored = response.json()
    assert (stored["templateId"], stored["templateVersionId"]) == (str(version.template_id), str(version.pk))
    assert (stored["userId"], stored["duplicate"]) == ("user-456", False)
    assert "their" not in json.dumps(stored)
    assert sorted(Execution.objects.values_list("template_id", flat=True)) == sorted(
        [version.template_id, other.template_id]
    )


def test_record__same_request_id_other_version_same_template__duplicate_receipt_echoes_the_sent_version(
    api, integration, version, author
):
    # Given an execution of version 1 with a request id
    second_version = create_version(actor=author, template_id=version.template_id, definition={"content": "B"})
    first = (
        api.as_user(integration)
        .post("/api/executions", ExecutionReportFactory(version=version, metadata={"requestId": "r"}))
        .json()
    )
    # When version 2 of the same template reports the same request id
    response = api.as_user(integration).post(
        "/api/executions", ExecutionReportFactory(version=second_version, metadata={"requestId": "r"})
    )
    # Then it is a duplicate within the template; the receipt names what was sent, not the stored version
    assert response.status_code == 200
    assert response.json()["id"] == first["id"]
    assert response.json()["templateVersionId"] == str(second_version.pk)
    assert Execution.objects.count() == 1


def test_batch__same_request_ids_in_two_templates__each_template_keeps_its_own(
    api, integration, version, create_template
):
    # Given a request id already stored for another template
    other = create_template().latest_version
    api.as_user(integration).post("/api/executions", ExecutionReportFactory(version=other, metadata={"requestId": "a"}))
    # When a batch reports "a" and "b" for both templates, "b" twice for this one
    rows = [
        ExecutionReportFactory(version=version, metadata={"requestId": "a"}),
        ExecutionReportFactory(version=version, metadata={"requestId": "b"}),
        ExecutionReportFactory(version=version, metadata={"requestId": "b"}),
        ExecutionReportFactory(version=other, metadata={"requestId": "a"}),
        ExecutionReportFactory(version=other, metadata={"requestId": "b"}),
    ]
    response = api.as_user(integration).post("/api/executions/batch", {"executions": rows})
    # Then per template: this one stores a and b (b once), the other only b (it had a)
    assert response.json() == {"created": 3, "duplicates": 2}
    stored = sorted(Execution.objects.values_list("template_id", "request_id"))
    assert stored == sorted(
        [(version.template_id, "a"), (version.template_id, "b"), (other.template_id, "a"), (other.template_id, "b")]
    )


def test_record__without_request_id__each_report_stored(api, integration, version):
    api.as_user(integration).post("/api/executions", ExecutionReportFactory(version=version))
    api.as_user(integration).post("/api/executions", ExecutionReportFactory(version=version))
    assert Execution.objects.count() == 2


def test_record__optional_fields__stored(api, integration, version):
    ab_test = "5b7f6c1e-52b1-4a52-9a8f-0d5b3a1f9a11"
    body = ExecutionReportFactory(
        version=version,
        status="error",
        error={"type": "RateLimit", "message": "429"},
        userSatisfaction=2,
        converted=False,
        abTestId=ab_test,
        variantId="control",
        timestamp="2026-01-31T12:00:00+02:00",
    )
    stored = api.as_user(integration).post("/api/executions", body).json()
    assert stored["error"] == {"type": "RateLimit", "message": "429"}
    assert (stored["userSatisfaction"], stored["converted"]) == (2, False)
    assert (stored["abTestId"], stored["variantId"]) == (ab_test, "control")
    assert stored["timestamp"] == "2026-01-31T10:00:00Z"


AB_TEST = "5b7f6c1e-52b1-4a52-9a8f-0d5b3a1f9a11"


def subjects_noted() -> set[tuple[str, str, str]]:
    return {
        (str(test), variant, subject)
        for test, variant, subject in VariantSubject.objects.values_list("ab_test_id", "variant_id", "subject")
    }


def test_record__subject_id__stored_and_shown(api, integration, version):
    body = ExecutionReportFactory(version=version, subjectId="session-9", abTestId=AB_TEST, variantId="control")
    stored = api.as_user(integration).post("/api/executions", body).json()
    assert (stored["subjectId"], stored["userId"]) == ("session-9", "user-456")
    assert Execution.objects.get().subject_ref == "session-9"


def test_batch__variant_subjects__noted_once_each_subject_id_before_user_id(api, integration, version):
    # Given reports of one test's two variants: a subject reported twice, one with only a userId, one with
    # a subjectId and a userId, and reports that name no test, or no variant, or no one
    tagged = {"abTestId": AB_TEST}
    rows = [
        ExecutionReportFactory(version=version, subjectId="s1", variantId="control", **tagged),
        ExecutionReportFactory(version=version, subjectId="s1", variantId="control", **tagged),
        ExecutionReportFactory(version=version, subjectId="s1", variantId="variant-a", **tagged),
        ExecutionReportFactory(version=version, userId="u2", variantId="control", **tagged),
        ExecutionReportFactory(version=version, subjectId="s3", userId="u3", variantId="variant-a", **tagged),
        ExecutionReportFactory(version=version, subjectId="s4"),
        ExecutionReportFactory(version=version, subjectId="s5", **tagged),
        ExecutionReportFactory(version=version, userId="", variantId="control", **tagged),
    ]
    # When they are reported in a batch, then the first of them again in another
    assert api.as_user(integration).post("/api/executions/batch", {"executions": rows}).status_code == 201
    assert api.as_user(integration).post("/api/executions/batch", {"executions": rows[:1]}).status_code == 201
    # Then each variant's subjects are noted once, by subjectId, else userId
    assert subjects_noted() == {
        (AB_TEST, "control", "s1"),
        (AB_TEST, "variant-a", "s1"),
        (AB_TEST, "control", "u2"),
        (AB_TEST, "variant-a", "s3"),
    }


def test_batch__invalid_row__no_subject_noted(api, integration, version):
    rows = [
        ExecutionReportFactory(version=version, subjectId="s1", variantId="control", abTestId=AB_TEST),
        ExecutionReportFactory(version=version, status="unknown"),
    ]
    assert api.as_user(integration).post("/api/executions/batch", {"executions": rows}).status_code == 400
    assert not VariantSubject.objects.exists()
    assert not VariantSubjectCount.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_batch__same_subjects_in_batches_at_once__each_noted_once(make_user, create_template, integration):
    from analytics.services import read_reports, record_executions

    version = create_template(actor=make_user("author")).latest_version
    batches = [
        [
            ExecutionReportFactory(version=version, subjectId=f"s{i}", abTestId=AB_TEST, variantId="control")
            for i in order
        ]
        for order in (range(0, 80), range(79, -1, -1), range(40, 120))
    ]
    outcomes = at_once([lambda rows=rows: record_executions(read_reports(rows, actor=integration)) for rows in batches])
    assert not [outcome for outcome in outcomes if isinstance(outcome, BaseException)], outcomes
    assert subjects_noted() == {(AB_TEST, "control", f"s{i}") for i in range(120)}


def test_record__failure_without_error_object__typed_by_its_status(api, integration, version):
    stored = (
        api.as_user(integration)
        .post("/api/executions", ExecutionReportFactory(version=version, status="timeout"))
        .json()
    )
    assert stored["error"] == {"type": "timeout", "message": ""}


def test_record__total_tokens_left_out__computed(api, integration, version):
    body = ExecutionReportFactory(version=version, tokenUsage={"inputTokens": 3, "outputTokens": 4})
    assert api.as_user(integration).post("/api/executions", body).json()["tokenUsage"]["totalTokens"] == 7


@override_settings(EXECUTION_PAYLOAD_MAX_CHARS=20)
def test_record__long_input_and_output__kept_bounded_with_a_marker(api, integration, version):
    stored = (
        api.as_user(integration)
        .post("/api/executions", ExecutionReportFactory(version=version, output="x" * 50))
        .json()
    )
    assert stored["output"] == "x" * 20 + "…[truncated 30 characters]"
    text = '{"inquiry": "How do I reset my password?"}'  # the input as JSON text
    assert stored["input"] == text[:20] + f"…[truncated {len(text) - 20} characters]"


@override_settings(EXECUTION_STORE_PAYLOADS=False)
def test_record__payloads_switched_off__not_kept(api, integration, version):
    stored = api.as_user(integration).post("/api/executions", ExecutionReportFactory(version=version)).json()
    assert (stored["input"], stored["output"]) == ("", "")


BAD = [
    ({"status": "ok"}, "status"),
    ({"status": None}, "status"),
    ({"responseTime": -1}, "responseTime"),
    ({"responseTime": 10**9}, "responseTime"),
    ({"responseTime": "1200"}, "responseTime"),
    ({"responseTime": True}, "responseTime"),
    ({"templateVersionId": "nope"}, "templateVersionId"),
    ({"templateVersionId": 5}, "templateVersionId"),
    ({"templateVersionId": "00000000-0000-0000-0000-000000000000"}, "templateVersionId"),
    ({"environment": "prod"}, "environment"),
    ({"tokenUsage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 4}}, "tokenUsage.totalTokens"),
    ({"tokenUsage": {"inputTokens": -1}}, "tokenUsage.inputTokens"),
    ({"tokenUsage": {"inputTokens": 1.5}}, "tokenUsage.inputTokens"),
    ({"tokenUsage": {"cost": -0.1}}, "tokenUsage.cost"),
    ({"tokenUsage": {"cost": 1e9}}, "tokenUsage.cost"),
    ({"tokenUsage": [1, 2]}, "tokenUsage"),
    ({"metadata": "eu"}, "metadata"),
    ({"metadata": {"requestId": 7}}, "metadata.requestId"),
    ({"metadata": {"region": "x" * 51}}, "metadata.region"),
    ({"userSatisfaction": 6}, "userSatisfaction"),
    ({"userSatisfaction": "5"}, "userSatisfaction"),
    ({"converted": "yes"}, "converted"),
    ({"abTestId": "abc"}, "abTestId"),
    ({"error": {"type": "X"}}, "error"),  # on a success
    ({"status": "error", "error": {"type": 5}}, "error.type"),
    ({"timestamp": "yesterday"}, "timestamp"),
    ({"timestamp": "2026-01-31T12:00:00"}, "timestamp"),
    ({"timestamp": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, "timestamp"),
    ({"userId": ["u"]}, "userId"),
    ({"subjectId": 7}, "subjectId"),
    ({"subjectId": "s" * 201}, "subjectId"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
def test_record__bad_input__400_naming_the_field_nothing_stored(api, integration, version, change, field):
    response = api.as_user(integration).post("/api/executions", ExecutionReportFactory(version=version, **change))
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    assert not Execution.objects.exists()


@pytest.mark.parametrize("missing", ["templateVersionId", "status", "responseTime"])
def test_record__required_field_missing__400(api, integration, version, missing):
    body = ExecutionReportFactory(version=version)
    del body[missing]
    response = api.as_user(integration).post("/api/executions", body)
    assert response.status_code == 400
    assert missing in response.json()["error"]["fields"]


def test_record__no_token__401(api, version):
    assert api.anonymous().post("/api/executions", ExecutionReportFactory(version=version)).status_code == 401


def test_batch__new_repeated_and_stored_before__counted(api, integration, version):
    api.as_user(integration).post(
        "/api/executions", ExecutionReportFactory(version=version, metadata={"requestId": "a"})
    )
    rows = [ExecutionReportFactory(version=version, metadata={"requestId": rid}) for rid in ["a", "b", "c", "c"]] + [
        ExecutionReportFactory(version=version)
    ]
    response = api.as_user(integration).post("/api/executions/batch", {"executions": rows})
    assert response.status_code == 201
    assert response.json() == {"created": 3, "duplicates": 2}
    assert Execution.objects.count() == 4
    roll_up_pending()
    assert sum(HourlyStats.objects.values_list("executions", flat=True)) == 4


def test_batch__one_invalid_row__400_naming_it_nothing_stored(api, integration, version):
    rows = [ExecutionReportFactory(version=version) for _ in range(5)]
    rows[3]["status"] = "fine"
    response = api.as_user(integration).post("/api/executions/batch", {"executions": rows})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["executions[3].status"]
    assert not Execution.objects.exists()
    assert not PendingBatch.objects.exists()


def test_batch__unknown_version_in_one_row__400_naming_it(api, integration, version):
    rows = [
        ExecutionReportFactory(version=version),
        ExecutionReportFactory(version=version, templateVersionId="00000000-0000-0000-0000-000000000000"),
    ]
    response = api.as_user(integration).post("/api/executions/batch", {"executions": rows})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["executions[1].templateVersionId"]


@pytest.mark.parametrize("executions", [None, [], {"a": 1}, "x", [1] * 1001])
def test_batch__not_a_list_of_1_to_1000__400(api, integration, executions):
    response = api.as_user(integration).post("/api/executions/batch", {"executions": executions})
    assert response.status_code == 400
    assert "executions" in response.json()["error"]["fields"]


def test_batch__row_not_an_object__400_naming_it(api, integration, version):
    response = api.as_user(integration).post(
        "/api/executions/batch", {"executions": [ExecutionReportFactory(version=version), "x"]}
    )
    assert list(response.json()["error"]["fields"]) == ["executions[1]"]


def test_batch__a_thousand_rows__stored(api, integration, version):
    rows = [ExecutionReportFactory(version=version, metadata={"requestId": f"r{i}"}) for i in range(1000)]
    assert api.as_user(integration).post("/api/executions/batch", {"executions": rows}).json()["created"] == 1000


@pytest.mark.django_db(transaction=True)
def test_record__same_request_id_at_the_same_moment__stored_once(make_user, create_template):
    from rest_framework.test import APIClient

    from lifecycle.testing.api import api_key_for

    version = create_template(actor=make_user("author")).latest_version
    key = api_key_for(make_user("integration"))
    body = ExecutionReportFactory(version=version, metadata={"requestId": "race"})

    def post() -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client.post("/api/executions", body, format="json").status_code

    assert sorted(at_once([post] * 4)) == [200, 200, 200, 201]
    assert Execution.objects.filter(request_id="race").count() == 1
    roll_up_pending()
    assert HourlyStats.objects.get().executions == 1


@pytest.mark.django_db(transaction=True)
def test_batch__overlapping_batches_at_once__every_report_once_and_rollups_exact(
    make_user, create_template, integration
):
    from analytics.services import read_reports, record_executions

    version = create_template(actor=make_user("author")).latest_version
    batches = [
        [
            ExecutionReportFactory(version=version, metadata={"requestId": f"r{i}"}, responseTime=100 + i)
            for i in range(offset, offset + 60)
        ]
        for offset in (0, 30, 45)
    ]
    outcomes = at_once([lambda rows=rows: record_executions(read_reports(rows, actor=integration)) for rows in batches])
    assert not [outcome for outcome in outcomes if isinstance(outcome, BaseException)], outcomes
    assert Execution.objects.count() == 105
    # Two workers folding at once: each batch is counted by one of them, once
    assert sum(done.executions for done in at_once([roll_up_pending, roll_up_pending])) == 105
    assert sum(HourlyStats.objects.values_list("executions", flat=True)) == 105
    assert sum(HourlyStats.objects.values_list("response_time_sum", flat=True)) == sum(100 + i for i in range(105))


@pytest.mark.django_db(transaction=True)
def test_roll_up__batches_claimed_by_another_worker_meanwhile__counted_once(
    make_user, create_template, monkeypatch, integration
):
    from analytics import rollups
    from analytics.services import read_reports, record_executions

    version = create_template(actor=make_user("author")).latest_version
    for offset in (0, 50):
        record_executions(
            read_reports(
                [ExecutionReportFactory(version=version, responseTime=10 + i) for i in range(offset, offset + 50)],
                actor=integration,
            )
        )
    aggregate, others = rollups._aggregate, []

    def another_worker_folds_them_first(batch_ids):
        found = aggregate(batch_ids)
        if not others:  # a second worker, on its own connection, takes the same batches while this one reads
            others.append("reading")
            others[:] = [done.executions for done in at_once([rollups.roll_up_pending])]
        return found

    monkeypatch.setattr(rollups, "_aggregate", another_worker_folds_them_first)
    # When this worker then comes to claim the batches it read, it finds them gone: it writes nothing
    assert rollups.roll_up_pending().executions == 0
    assert others == [100]
    assert sum(HourlyStats.objects.values_list("executions", flat=True)) == 100
    assert sum(HourlyStats.objects.values_list("response_time_sum", flat=True)) == sum(10 + i for i in range(100))
    hours = LatencyHistogram.objects.filter(period="hour").values_list("counts", flat=True)
    assert sum(int(histogram.decode(counts).sum()) for counts in hours) == 100


def test_roll_up__thousands_of_rollup_keys_at_once__folded(create_template, now, integration):
    from analytics.services import read_reports, record_executions
    from lifecycle.testing.executions import random_reports

    # Given 3,000 reports spread over 60 days: nearly one hourly key each (more parameters than SQLite
    # takes in one statement, were they written at once)
    version = create_template().latest_version
    rows = random_reports([version], 3000, start=now - timedelta(days=60), end=now - timedelta(seconds=1))
    for offset in range(0, 3000, 1000):
        record_executions(read_reports(rows[offset : offset + 1000], actor=integration))
    # When one pass folds them all
    assert roll_up_pending(max_executions=3000).executions == 3000
    # Then every one is counted once
    assert sum(HourlyStats.objects.values_list("executions", flat=True)) == 3000
    assert not PendingBatch.objects.exists()


def _store_batches(version, *sizes):
    from analytics.services import read_reports, record_executions

    reporter = UserFactory(roles=["integration"])
    for size in sizes:
        record_executions(read_reports([ExecutionReportFactory(version=version) for _ in range(size)], actor=reporter))


def test_roll_up__a_pass__takes_the_oldest_batches_until_it_holds_enough_executions(version):
    # Given three pending batches of 100, 60 and 100 executions
    _store_batches(version, 100, 60, 100)
    newest = PendingBatch.objects.latest("created_at").pk
    assert list(PendingBatch.objects.order_by("created_at").values_list("executions", flat=True)) == [100, 60, 100]
    # When a pass of 150 executions runs: the two oldest (it stops once it holds enough), the newest left
    assert roll_up_pending(max_executions=150) == (160, True)
    assert list(PendingBatch.objects.values_list("pk", flat=True)) == [newest]
    assert roll_up_pending(max_executions=150) == (100, False)
    assert sum(HourlyStats.objects.values_list("executions", flat=True)) == 260


def test_roll_up__a_pass__takes_at_most_max_batches(version):
    _store_batches(version, 1, 1, 1)  # single reports: batches of one
    assert roll_up_pending(max_batches=2) == (2, True)
    assert roll_up_pending(max_batches=2) == (1, False)


def test_record__duplicates__not_counted_in_the_pending_batch_size(api, integration, version):
    api.as_user(integration).post(
        "/api/executions", ExecutionReportFactory(version=version, metadata={"requestId": "a"})
    )
    rows = [ExecutionReportFactory(version=version, metadata={"requestId": rid}) for rid in ["a", "b", "b", "c"]]
    api.as_user(integration).post("/api/executions/batch", {"executions": rows})
    assert sorted(PendingBatch.objects.values_list("executions", flat=True)) == [1, 2]


def _run_task_with_passes(monkeypatch, after_pass=None, **limits):
    """Run the roll-up task with smaller passes; `after_pass(number)` runs after each. Returns (total, passes)."""
    from analytics import tasks

    passes = []

    def one_pass(**given):  # the task's own limit (ANALYTICS_ROLLUP_PASS_EXECUTIONS) replaced by the test's
        passes.append(roll_up_pending(**{**given, **limits}))
        if after_pass:
            after_pass(len(passes))
        return passes[-1]

    monkeypatch.setattr(tasks, "roll_up_pending", one_pass)
    return tasks.roll_up(), [done.executions for done in passes]


def test_roll_up_task__folds_what_was_pending_then_leaves_later_batches_to_the_next_run(version, monkeypatch):
    # Given passes of 150 executions and 300 pending: a pass of 200 that leaves some behind, then one of 100
    _store_batches(version, 100, 100, 100)

    def report_more(number):
        if number == 2:
            _store_batches(version, 40)  # reported after the last pass chose its batches

    # When the task runs: that pass left nothing behind, so it is the last; the new batch waits
    assert _run_task_with_passes(monkeypatch, report_more, max_executions=150) == (300, [200, 100])
    assert list(PendingBatch.objects.values_list("executions", flat=True)) == [40]
    assert _run_task_with_passes(monkeypatch, max_executions=150) == (40, [40])


def test_roll_up_task__many_single_reports__all_folded_in_one_run(version, monkeypatch):
    # Single reports are batches of one: passes capped by their number of batches still fold everything
    _store_batches(version, *[1] * 5)
    assert _run_task_with_passes(monkeypatch, max_batches=2) == (5, [2, 2, 1])
    assert not PendingBatch.objects.exists()


def test_roll_up_task__pass_size_setting__passes_of_that_size(version, settings):
    from analytics import tasks

    _store_batches(version, 100, 100, 100)
    settings.ANALYTICS_ROLLUP_PASS_EXECUTIONS = 100
    calls = []
    original = tasks.roll_up_pending

    def counted(**limits):
        calls.append(limits["max_executions"])
        return original(**limits)

    tasks.roll_up_pending = counted
    try:
        assert tasks.roll_up() == 300
    finally:
        tasks.roll_up_pending = original
    assert calls == [100, 100, 100]
