"""A/B tests over the API: create (the README's payload, each validation rule a 400 naming its field with
nothing stored), the lifecycle's transitions (each allowed, each refused with a 409), who may do what, the
one-running rule, lists and details, and the audit trail."""

from __future__ import annotations

import uuid

import pytest

from abtesting.models import ABTest, Variant

pytestmark = pytest.mark.django_db

CREATE = "/api/abtests/create"


def create(api, user, body):
    return api.as_user(user).post(CREATE, body)


def created(api, user, body):
    response = create(api, user, body)
    assert response.status_code == 201, response.json()
    return response.json()


def act(api, user, verb, test_id, **extra):
    return api.as_user(user).post(f"/api/abtests/{verb}", {"testId": str(test_id), **extra})


def status_of(test_id):
    return ABTest.objects.get(pk=test_id).state


# Create


def test_create__the_readmes_payload__201_draft_with_every_field(api, subject):
    # Given the README's payload for two versions of a template its author maintains
    body = subject.payload()
    # When the author creates the test
    test = created(api, subject.author, body)
    # Then it is a draft holding what was sent
    assert test["status"] == "draft"
    assert test["templateId"] == str(subject.template.pk)
    assert test["environment"] == "production"
    assert (test["name"], test["description"], test["hypothesis"]) == (
        body["name"],
        body["description"],
        body["hypothesis"],
    )
    assert [
        (v["id"], v["name"], v["templateVersionId"], v["trafficPercentage"], v["control"], v["version"])
        for v in test["variants"]
    ] == [
        ("control", "Original", str(subject.versions[0].pk), 50.0, True, "1.0.0"),
        ("variant-a", "Improved", str(subject.versions[1].pk), 50.0, False, "1.0.1"),
    ]
    assert test["trafficSplit"] == {"control": 50.0, "variant-a": 50.0}
    assert test["startDate"] == "2025-01-10T00:00:00Z"
    assert test["endDate"] is None
    assert [(m["name"], m["type"], m["target"], m["weight"]) for m in test["successMetrics"]] == [
        ("user_satisfaction", "user_satisfaction", 4.5, 0.7),
        ("response_time", "response_time", 1000.0, 0.3),
    ]
    assert test["guardrailMetrics"] == []
    assert (test["confidenceLevel"], test["minimumSampleSize"], test["autoStop"]) == (0.95, 100, False)
    assert test["createdBy"] == subject.author.username
    assert test["startedAt"] is None
    assert test["stoppedAt"] is None
    assert test["winner"] is None
    assert Variant.objects.filter(test_id=test["id"]).count() == 2


def test_create__the_readmes_workflow_payload__template_control_and_metric_defaulted(api, subject):
    # Given the README's workflow example: ids, versions and a trafficSplit only
    body = {
        "name": "Response Quality Improvement",
        "variants": [
            {"id": "control", "templateVersionId": str(subject.versions[0].pk)},
            {"id": "improved", "templateVersionId": str(subject.versions[1].pk)},
        ],
        "trafficSplit": {"control": 50, "improved": 50},
    }
    test = created(api, subject.author, body)
    # Then the template is the versions', the percentages the split's, the first the control
    assert test["templateId"] == str(subject.template.pk)
    assert test["environment"] == "production"
    assert [(v["id"], v["name"], v["trafficPercentage"], v["control"]) for v in test["variants"]] == [
        ("control", "control", 50.0, True),
        ("improved", "improved", 50.0, False),
    ]
    assert [(m["type"], m["weight"]) for m in test["successMetrics"]] == [("conversion_rate", 1.0)]


def test_create__a_variant_marked_control__it_is_the_only_control(api, subject):
    body = subject.payload()
    body["variants"][1]["control"] = True
    test = created(api, subject.author, body)
    assert [v["control"] for v in test["variants"]] == [False, True]


def test_create__uneven_split_and_guardrails__kept(api, subject):
    body = subject.payload(
        trafficSplit={"control": 66.67, "variant-a": 33.33},
        guardrailMetrics=[{"name": "errors", "type": "success_rate"}, {"name": "cost", "type": "cost"}],
        confidenceLevel=0.99,
        minimumSampleSize=500,
        autoStop=True,
        endDate="2999-01-01T00:00:00+02:00",
        environment="staging",
    )
    body["variants"][0]["trafficPercentage"] = 66.67
    body["variants"][1]["trafficPercentage"] = 33.33
    test = created(api, subject.author, body)
    assert test["trafficSplit"] == {"control": 66.67, "variant-a": 33.33}
    assert [(g["name"], g["type"]) for g in test["guardrailMetrics"]] == [("errors", "success_rate"), ("cost", "cost")]
    assert (test["confidenceLevel"], test["minimumSampleSize"], test["autoStop"]) == (0.99, 500, True)
    assert test["endDate"] == "2998-12-31T22:00:00Z"
    assert test["environment"] == "staging"


def _variant(index, **changes):
    def change(body):
        body["variants"][index].update(changes)

    return change


def _set(**changes):
    def change(body):
        body.update(changes)

    return change


def _weights(first, second):
    def change(body):
        body["successMetrics"][0]["weight"] = first
        body["successMetrics"][1]["weight"] = second

    return change


def _one_variant(body):
    body["variants"] = body["variants"][:1]
    body["trafficSplit"] = {"control": 100}
    body["variants"][0]["trafficPercentage"] = 100


def _metric(index, **changes):
    def change(body):
        body["successMetrics"][index].update(changes)

    return change


def _two_controls(body):
    for variant in body["variants"]:
        variant["control"] = True


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param(_one_variant, "variants", id="one variant"),
        pytest.param(_set(variants=[]), "variants", id="no variants"),
        pytest.param(_variant(1, id="control"), "variants[1].id", id="ids repeat"),
        pytest.param(_variant(1, id=""), "variants[1].id", id="empty id"),
        pytest.param(_variant(1, id="x" * 101), "variants[1].id", id="id over 100 characters"),
        pytest.param(_variant(0, trafficPercentage=60), "variants", id="percentages sum to 110"),
        pytest.param(_variant(0, trafficPercentage=0), "variants[0].trafficPercentage", id="zero percent"),
        pytest.param(_variant(0, trafficPercentage=49.999), "variants[0].trafficPercentage", id="beyond hundredths"),
        pytest.param(_variant(0, trafficPercentage="50"), "variants[0].trafficPercentage", id="percentage as text"),
        pytest.param(_set(trafficSplit={"control": 40, "variant-a": 60}), "trafficSplit.control", id="split disagrees"),
        pytest.param(_set(trafficSplit={"control": 50, "other": 50}), "trafficSplit", id="split names no variant"),
        pytest.param(
            _variant(1, templateVersionId=str(uuid.uuid4())), "variants[1].templateVersionId", id="unknown version"
        ),
        pytest.param(
            _variant(1, templateVersionId="not-a-uuid"), "variants[1].templateVersionId", id="malformed version"
        ),
        pytest.param(_two_controls, "variants", id="two controls"),
        pytest.param(_variant(1, control="yes"), "variants[1].control", id="control not a boolean"),
        pytest.param(_weights(0.7, 0.2), "successMetrics", id="weights sum to 0.9"),
        pytest.param(_weights(0.7, 0.3000001), "successMetrics", id="weights off by 1e-7"),
        pytest.param(_weights(1.2, -0.2), "successMetrics[0].weight", id="weight above 1"),
        pytest.param(_metric(0, type="happiness"), "successMetrics[0].type", id="unknown metric type"),
        pytest.param(_metric(1, name="user_satisfaction"), "successMetrics[1].name", id="metric names repeat"),
        pytest.param(_metric(0, target="high"), "successMetrics[0].target", id="target not a number"),
        pytest.param(_set(successMetrics=[]), "successMetrics", id="no success metric"),
        pytest.param(
            _set(guardrailMetrics=[{"name": "g", "type": "p95"}]),
            "guardrailMetrics[0].type",
            id="unknown guardrail type",
        ),
        pytest.param(_set(confidenceLevel=0.5), "confidenceLevel", id="confidence below 0.8"),
        pytest.param(_set(confidenceLevel=0.9999), "confidenceLevel", id="confidence above 0.999"),
        pytest.param(_set(minimumSampleSize=0), "minimumSampleSize", id="sample size 0"),
        pytest.param(_set(minimumSampleSize=1.5), "minimumSampleSize", id="sample size not whole"),
        pytest.param(_set(environment="qa"), "environment", id="unknown environment"),
        pytest.param(_set(templateId=str(uuid.uuid4())), "templateId", id="unknown template"),
        pytest.param(_set(templateId=42), "templateId", id="template id not a string"),
        pytest.param(_set(name=""), "name", id="empty name"),
        pytest.param(_set(name="   "), "name", id="blank name"),
        pytest.param(_set(endDate="2020-01-01T00:00:00Z"), "endDate", id="end date in the past"),
        pytest.param(_set(endDate="2999-01-01T00:00:00"), "endDate", id="end date without a zone"),
        pytest.param(
            _set(startDate="2999-02-01T00:00:00Z", endDate="2999-01-01T00:00:00Z"), "endDate", id="end before start"
        ),
        pytest.param(_set(startDate="soon"), "startDate", id="start date not a date"),
        pytest.param(_set(autoStop="true"), "autoStop", id="auto stop as text"),
    ],
)
def test_create__invalid__400_naming_the_field_nothing_stored(api, subject, change, field):
    # Given the README's payload with one thing wrong
    body = subject.payload()
    change(body)
    # When it is sent
    response = create(api, subject.author, body)
    # Then it is refused, naming that field, and nothing is stored
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert not ABTest.objects.exists()
    assert not Variant.objects.exists()


def test_create__version_of_another_template__400_naming_the_variant(api, subject, create_template):
    other = create_template()
    body = subject.payload()
    body["variants"][1]["templateVersionId"] = str(other.latest_version.pk)
    response = create(api, subject.author, body)
    assert response.status_code == 400
    assert "another template" in response.json()["error"]["fields"]["variants[1].templateVersionId"][0]
    assert not ABTest.objects.exists()


def test_create__same_version_twice__201_an_a_a_test(api, subject):
    # Executions count for a variant by their variantId, so two variants may serve one version (an A/A test)
    body = subject.payload()
    body["variants"][1]["templateVersionId"] = body["variants"][0]["templateVersionId"]
    response = create(api, subject.author, body)
    assert response.status_code == 201, response.json()
    assert {variant["templateVersionId"] for variant in response.json()["variants"]} == {
        body["variants"][0]["templateVersionId"]
    }


def test_create__several_problems__each_named(api, subject):
    body = subject.payload(trafficSplit={"control": 40, "variant-a": 50})
    body["variants"][1]["id"] = "control"
    body["successMetrics"][0]["weight"] = 0.2
    response = create(api, subject.author, body)
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert {"trafficSplit.control", "variants[1].id", "successMetrics"} <= set(fields)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param([], id="a list"),
        pytest.param({"variants": "two"}, id="variants a string"),
        pytest.param({"name": "x", "variants": [1, 2]}, id="variants not objects"),
        pytest.param({"name": "x", "variants": [{"id": 1}, {"id": 2}]}, id="ids not strings"),
        pytest.param({"name": 7, "variants": []}, id="name a number"),
    ],
)
def test_create__malformed_body__400(api, subject, body):
    response = create(api, subject.author, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid", "malformed_request")
    assert not ABTest.objects.exists()


# Who may create


def test_create__deployer__201(api, subject, runner):
    assert create(api, runner, subject.payload()).status_code == 201


def test_create__superuser__201(api, subject, make_user):
    assert create(api, make_user(superuser=True), subject.payload()).status_code == 201


@pytest.mark.parametrize("roles", [(), ("author",), ("technical",), ("qa",), ("analyst",), ("integration",)])
def test_create__without_the_role_or_not_maintaining__403_nothing_stored(api, subject, make_user, roles):
    # Given someone who is neither a deployer nor an author maintaining the template
    user = make_user(*roles)
    # When they create a test of it
    response = create(api, user, subject.payload())
    # Then it is refused
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not ABTest.objects.exists()


def test_create__signed_out__401(api, subject):
    assert api.anonymous().post(CREATE, subject.payload()).status_code == 401


# The lifecycle


@pytest.fixture
def draft(api, subject):
    return created(api, subject.author, subject.payload(environment="development"))


def test_start__draft_in_development__running(api, draft, runner):
    response = act(api, runner, "start", draft["id"])
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "running"
    assert response.json()["startedAt"] is not None


def test_lifecycle__start_pause_resume_stop__each_answered_with_the_test(api, draft, runner):
    test_id = draft["id"]
    assert act(api, runner, "start", test_id).json()["status"] == "running"
    paused = act(api, runner, "pause", test_id).json()
    assert (paused["status"], paused["pausedAt"] is not None) == ("paused", True)
    resumed = act(api, runner, "start", test_id).json()
    assert (resumed["status"], resumed["pausedAt"]) == ("running", None)
    stopped = act(api, runner, "stop", test_id, reason="enough data").json()
    assert stopped["status"] == "completed"
    assert stopped["stoppedBy"] == runner.username
    assert stopped["stopReason"] == "enough data"
    assert stopped["stoppedAt"] is not None


def test_stop__paused__completed(api, draft, runner):
    act(api, runner, "start", draft["id"])
    act(api, runner, "pause", draft["id"])
    assert act(api, runner, "stop", draft["id"]).json()["status"] == "completed"


def test_cancel__draft_by_its_author__cancelled(api, draft, subject):
    response = act(api, subject.author, "cancel", draft["id"])
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


def test_cancel__paused_by_deployer__cancelled(api, draft, runner):
    act(api, runner, "start", draft["id"])
    act(api, runner, "pause", draft["id"])
    assert act(api, runner, "cancel", draft["id"]).json()["status"] == "cancelled"


def _to(api, runner, test_id, state):
    path = {
        "draft": [],
        "running": ["start"],
        "paused": ["start", "pause"],
        "completed": ["start", "stop"],
        "cancelled": ["cancel"],
    }[state]
    for verb in path:
        assert act(api, runner, verb, test_id).status_code == 200


@pytest.mark.parametrize(
    ("state", "verb"),
    [
        ("draft", "pause"),
        ("draft", "stop"),
        ("running", "start"),
        ("running", "cancel"),
        ("paused", "pause"),
        ("completed", "start"),
        ("completed", "pause"),
        ("completed", "stop"),
        ("completed", "cancel"),
        ("cancelled", "start"),
        ("cancelled", "pause"),
        ("cancelled", "stop"),
        ("cancelled", "cancel"),
    ],
)
def test_transition__illegal__409_state_unchanged(api, draft, runner, state, verb):
    # Given a test in `state`
    _to(api, runner, draft["id"], state)
    history = ABTest.history.filter(id=draft["id"]).count()
    # When a transition its state does not allow is asked
    response = act(api, runner, verb, draft["id"])
    # Then it is a 409 and nothing changed
    assert response.status_code == 409, response.json()
    assert response.json()["error"]["code"] == "illegal_transition"
    assert status_of(draft["id"]) == state
    assert ABTest.history.filter(id=draft["id"]).count() == history


@pytest.mark.parametrize("verb", ["start", "pause", "stop"])
@pytest.mark.parametrize("roles", [(), ("author",), ("technical",), ("security",), ("analyst",)])
def test_run_verbs__without_deployer__403_unchanged(api, draft, runner, make_user, subject, verb, roles):
    if verb != "start":
        _to(api, runner, draft["id"], "running")
    before = status_of(draft["id"])
    user = subject.author if roles == ("author",) else make_user(*roles)
    response = act(api, user, verb, draft["id"])
    assert response.status_code == 403
    assert status_of(draft["id"]) == before


def test_cancel__draft_by_author_not_maintaining__403(api, draft, make_user):
    response = act(api, make_user("author"), "cancel", draft["id"])
    assert response.status_code == 403
    assert status_of(draft["id"]) == "draft"


def test_cancel__paused_by_its_author__403_deployers_only(api, draft, runner, subject):
    _to(api, runner, draft["id"], "paused")
    assert act(api, subject.author, "cancel", draft["id"]).status_code == 403
    assert status_of(draft["id"]) == "paused"


@pytest.mark.parametrize("verb", ["start", "pause", "stop", "cancel"])
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"testId": "0b5c3e4e-2f5d-4c38-9a51-3c8f2a7d9e10"}, 404),
        ({"testId": "not-an-id"}, 400),
        ({"testId": 5}, 400),
        ({}, 400),
    ],
)
def test_verbs__unknown_or_malformed_id__4xx(api, runner, verb, body, expected):
    response = api.as_user(runner).post(f"/api/abtests/{verb}", body)
    assert response.status_code == expected
    assert "error" in response.json()


# Approval before starting


def test_start__production_versions_not_approved__409_still_draft(api, subject, runner):
    test = created(api, subject.author, subject.payload())
    response = act(api, runner, "start", test["id"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "variant_not_approved"
    assert "control" in response.json()["error"]["message"]
    assert status_of(test["id"]) == "draft"


def test_start__one_variant_approved__409_naming_the_other(api, subject, runner, reviewers):
    from abtesting.tests.conftest import approve_for

    approve_for(subject.versions[0], "production", reviewers)
    test = created(api, subject.author, subject.payload())
    response = act(api, runner, "start", test["id"])
    assert response.status_code == 409
    message = response.json()["error"]["message"]
    assert "variant-a" in message
    assert "control (" not in message


def test_start__every_variant_approved_for_production__running(api, approved_in_production, runner):
    test = created(api, approved_in_production.author, approved_in_production.payload())
    assert act(api, runner, "start", test["id"]).json()["status"] == "running"


def test_start__approved_for_staging_only__409_in_production(api, subject, runner, reviewers):
    from abtesting.tests.conftest import approve_for

    for version in subject.versions:
        approve_for(version, "staging", reviewers)
    staging = created(api, subject.author, subject.payload(environment="staging"))
    production = created(api, subject.author, subject.payload())
    assert act(api, runner, "start", staging["id"]).status_code == 200
    assert act(api, runner, "start", production["id"]).status_code == 409


# One running test per template and environment


def test_start__another_test_runs_for_the_template__409_second_stays_draft(api, subject, runner):
    first = created(api, subject.author, subject.payload(environment="development"))
    second = created(api, subject.author, subject.payload(environment="development", name="Second"))
    assert act(api, runner, "start", first["id"]).status_code == 200
    response = act(api, runner, "start", second["id"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "abtest_already_running"
    assert status_of(second["id"]) == "draft"


def test_start__another_runs_in_another_environment__both_run(api, subject, runner, reviewers):
    from abtesting.tests.conftest import approve_for

    for version in subject.versions:
        approve_for(version, "staging", reviewers)
    development = created(api, subject.author, subject.payload(environment="development"))
    staging = created(api, subject.author, subject.payload(environment="staging"))
    assert act(api, runner, "start", development["id"]).status_code == 200
    assert act(api, runner, "start", staging["id"]).status_code == 200


def test_resume__another_started_while_paused__409_stays_paused(api, subject, runner):
    first = created(api, subject.author, subject.payload(environment="development"))
    second = created(api, subject.author, subject.payload(environment="development", name="Second"))
    _to(api, runner, first["id"], "paused")
    assert act(api, runner, "start", second["id"]).status_code == 200
    assert act(api, runner, "start", first["id"]).status_code == 409
    assert status_of(first["id"]) == "paused"


def test_start__after_the_running_one_stopped__running(api, subject, runner):
    first = created(api, subject.author, subject.payload(environment="development"))
    second = created(api, subject.author, subject.payload(environment="development", name="Second"))
    _to(api, runner, first["id"], "completed")
    assert act(api, runner, "start", second["id"]).status_code == 200


def test_start__end_date_passed__409(api, subject, runner):
    from datetime import timedelta

    from django.utils import timezone

    test = created(api, subject.author, subject.payload(environment="development", endDate="2999-01-01T00:00:00Z"))
    ABTest.objects.filter(pk=test["id"]).update(end_date=timezone.now() - timedelta(minutes=1))
    response = act(api, runner, "start", test["id"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "end_date_passed"


# Reading


def test_detail__any_signed_in_user__200(api, draft, reader):
    response = api.as_user(reader).get(f"/api/abtests/{draft['id']}")
    assert response.status_code == 200
    assert response.json() == draft


@pytest.mark.parametrize("path", ["/api/abtests/0b5c3e4e-2f5d-4c38-9a51-3c8f2a7d9e10", "/api/abtests/not-a-uuid"])
def test_detail__unknown_or_malformed_id__404_json(api, reader, path):
    response = api.as_user(reader).get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] in ("not_found", "abtest_not_found")


def test_list__filters_by_template_and_status__newest_first(api, subject, runner, create_template, author):
    other = create_template()
    other_second = other.latest_version
    from lifecycle.releases.services import create_version_live_in_development

    other_third = create_version_live_in_development(
        actor=author, template_id=other.pk, definition={"content": "Other: {{inquiry}}"}
    )
    first = created(api, subject.author, subject.payload(environment="development"))
    second = created(api, subject.author, subject.payload(environment="staging", name="Second"))
    body = subject.payload(templateId=str(other.pk), environment="development", name="Other")
    body["variants"][0]["templateVersionId"] = str(other_second.pk)
    body["variants"][1]["templateVersionId"] = str(other_third.pk)
    third = created(api, author, body)
    act(api, runner, "start", first["id"])

    def ids(query=""):
        response = api.as_user(runner).get(f"/api/abtests{query}")
        assert response.status_code == 200, response.json()
        return [test["id"] for test in response.json()["results"]]

    assert ids() == [third["id"], second["id"], first["id"]]
    assert ids(f"?templateId={subject.template.pk}") == [second["id"], first["id"]]
    assert ids("?status=running") == [first["id"]]
    assert ids(f"?templateId={subject.template.pk}&status=draft") == [second["id"]]
    assert ids(f"?templateId={other.pk}&status=running") == []


@pytest.mark.parametrize("query", ["?status=paused-ish", "?templateId=nope", "?templateId=", "?pageSize=0"])
def test_list__bad_query__400(api, reader, query):
    response = api.as_user(reader).get(f"/api/abtests{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_list__queries_do_not_grow_with_tests(api, subject, reader, django_assert_max_num_queries):
    for index in range(5):
        created(api, subject.author, subject.payload(name=f"Test {index}"))
    api.as_user(reader)
    with django_assert_max_num_queries(8):
        response = api.get("/api/abtests")
    assert response.json()["count"] == 5


# The audit trail


def test_history__each_change_recorded_with_who(api, draft, runner, subject):
    act(api, runner, "start", draft["id"])
    act(api, runner, "pause", draft["id"])
    act(api, runner, "stop", draft["id"])
    records = list(ABTest.history.filter(id=draft["id"]).order_by("history_id"))
    assert [(r.state, r.history_user.username) for r in records] == [
        ("draft", subject.author.username),
        ("running", runner.username),
        ("paused", runner.username),
        ("completed", runner.username),
    ]
    variants = Variant.history.filter(test_id=draft["id"])
    assert {(v.key, v.history_type, v.history_user.username) for v in variants} == {
        ("control", "+", subject.author.username),
        ("variant-a", "+", subject.author.username),
    }


def test_audit_entries__for_the_template__the_tests_changes(api, draft, runner, subject):
    from abtesting.selectors import audit_entries_for_template

    act(api, runner, "start", draft["id"])
    entries = audit_entries_for_template(subject.template.pk)
    summaries = [entry.summary for entry in entries if entry.subject == "abtest"]
    assert summaries[0].startswith("A/B test 'Response Quality Test' created")
    assert summaries[-1].endswith(": running")


def test_template_history__lists_its_ab_tests_changes(api, draft, runner, subject, reader):
    act(api, runner, "start", draft["id"])
    response = api.as_user(reader).get(f"/api/templates/{subject.template.pk}/history")
    assert response.status_code == 200
    body = response.json()
    entries = body["results"] if isinstance(body, dict) else body
    ours = [(e["subject"], e["action"], e["by"]) for e in entries if e["subject"].startswith("abtest")]
    assert ("abtest", "changed", runner.username) in ours
    assert ("abtest", "created", subject.author.username) in ours
    assert ("abtest variant", "created", subject.author.username) in ours
