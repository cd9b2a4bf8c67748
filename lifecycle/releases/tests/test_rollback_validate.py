"""GET /api/rollback/validate: each reason a rollback may not happen, and its impact (the variable interface
change, the content diff, the target's own recorded numbers there)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from approvals.models import ApprovalRequest
from lifecycle.releases.models import Deployment
from lifecycle.releases.services import roll_back_in_emergency
from lifecycle.releases.tests.conftest import approve_for
from lifecycle.testing.executions import store
from lifecycle.testing.factories import ExecutionReportFactory

pytestmark = pytest.mark.django_db

UNKNOWN = "00000000-0000-0000-0000-000000000000"


def validate(api, user, current, target, **extra):
    query = {"currentVersionId": str(current.pk), "targetVersionId": str(target.pk), **extra}
    return api.as_user(user).get("/api/rollback/validate", data=query)


def codes(body):
    return [reason["code"] for reason in body["reasons"]]


def test_validate__earlier_version_deployed_there__valid_with_its_impact(api, served):
    # Given 1.0.2 serving production, after 1.0.0 and 1.0.1
    _, previous, current = served.versions
    # When a deployer asks whether 1.0.1 may replace it
    response = validate(api, served.deployer, current, previous)
    # Then it may, and the answer says what callers would see
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["valid"], body["reasons"]) == (True, [])
    impact = body["impact"]
    assert impact["current"] == {"versionId": str(current.pk), "version": "1.0.2"}
    assert impact["target"] == {"versionId": str(previous.pk), "version": "1.0.1"}
    assert impact["servingNow"]["version"] == "1.0.2"
    assert (impact["environment"], impact["rollsForward"], impact["targetRolledBackHere"]) == (
        "production",
        False,
        False,
    )
    assert impact["interface"] == {
        "step": "patch",
        "changes": [{"level": "patch", "change": "content changed"}],
        "breaking": [],
    }
    assert "-Answer #2: {{inquiry}}\n+Answer #1: {{inquiry}}" in impact["diff"]["diff"]
    assert impact["targetPerformance"]["executions"] == 0
    assert len(impact["targetPerformance"]["periods"]) == 1


def test_validate__environment_defaults_to_production(api, served):
    _, previous, current = served.versions
    assert validate(api, served.deployer, current, previous).json()["impact"]["environment"] == "production"


# -- each reason ------------------------------------------------------------------------------------


def test_validate__target_of_another_template__invalid_not_same_template(api, served, create_template):
    other = create_template(name="Another").latest_version
    body = validate(api, served.deployer, served.versions[2], other).json()
    assert body["valid"] is False
    assert codes(body) == ["not_same_template"]
    assert body["reasons"][0]["field"] == "targetVersionId"
    assert (body["impact"]["diff"], body["impact"]["interface"], body["impact"]["targetPerformance"]) == (
        None,
        None,
        None,
    )


def test_validate__target_is_the_current_version__invalid_same_version(api, served):
    current = served.versions[2]
    assert codes(validate(api, served.deployer, current, current).json()) == ["same_version"]


def test_validate__target_never_deployed_there__invalid(api, served, reviewers):
    # Given 1.0.3, approved for production but never deployed there
    newer = served.new_version("Answer #3: {{inquiry}}")
    approve_for(newer, "production", reviewers)
    body = validate(api, served.deployer, served.versions[2], newer).json()
    assert codes(body) == ["never_deployed_here"]
    assert body["impact"]["rollsForward"] is True


def test_validate__target_deployed_in_staging_only__never_deployed_in_production(api, served, reviewers):
    staged = served.new_version("Staged {{inquiry}}")
    approve_for(staged, "staging", reviewers)
    served.deploy(staged, "staging")
    assert "never_deployed_here" in codes(validate(api, served.deployer, served.versions[2], staged).json())


def test_validate__target_no_longer_approved_there__invalid_not_approved(api, served):
    # Given 1.0.1's production approval withdrawn (as an administrator could, in the database)
    previous = served.versions[1]
    ApprovalRequest.objects.filter(version=previous, environment="production").update(state="cancelled")
    body = validate(api, served.deployer, served.versions[2], previous).json()
    assert codes(body) == ["not_approved"]


def test_validate__current_not_the_active_version__invalid_current_not_active(api, served):
    first, previous, _ = served.versions
    body = validate(api, served.deployer, previous, first).json()
    assert codes(body) == ["current_not_active"]
    assert body["reasons"][0]["field"] == "currentVersionId"
    assert "1.0.2 is active there" in body["reasons"][0]["message"]


def test_validate__nothing_active_in_the_environment__current_not_active(api, served):
    first, previous, _ = served.versions
    body = validate(api, served.deployer, previous, first, environment="staging").json()
    assert set(codes(body)) == {"never_deployed_here", "not_approved", "current_not_active"}
    assert body["impact"]["servingNow"] is None


@pytest.fixture
def breaking(served, reviewers):
    """2.0.0, which requires `customer` (1.0.x do not know it), served production after 1.0.2; then 3.0.0
    without it, which serves now. Rolling 3.0.0 back to 2.0.0 would break 3.0.0's callers."""
    needs_customer = served.new_version(
        "Hello {{customer}}: {{inquiry}}",
        variables=[{"name": "inquiry", "type": "string"}, {"name": "customer", "type": "string"}],
    )
    without = served.new_version("Hi: {{inquiry}}", variables=[{"name": "inquiry", "type": "string"}])
    for version in (needs_customer, without):
        approve_for(version, "production", reviewers)
        served.deploy(version)
    return needs_customer, without


def test_validate__target_requires_a_variable_callers_do_not_send__invalid_breaking(api, served, breaking):
    needs_customer, current = breaking
    body = validate(api, served.deployer, current, needs_customer).json()
    assert codes(body) == ["breaking_interface"]
    assert body["impact"]["interface"]["step"] == "major"
    assert body["impact"]["interface"]["breaking"] == [
        "the target requires variable 'customer', which the current version does not declare: its callers do "
        "not send it"
    ]


def test_validate__breaking_forced_by_a_superuser__valid(api, served, breaking, make_user):
    needs_customer, current = breaking
    body = validate(api, make_user(superuser=True), current, needs_customer, force="true").json()
    assert (body["valid"], body["reasons"]) == (True, [])
    assert body["impact"]["interface"]["breaking"]  # still said


def test_validate__force_by_a_deployer__403(api, served, breaking):
    needs_customer, current = breaking
    response = validate(api, served.deployer, current, needs_customer, force="true")
    assert response.status_code == 403
    assert "superusers" in response.json()["error"]["message"]


def test_validate__variable_made_optional_in_current__required_in_target__breaking(api, served, reviewers):
    # Given 2.0.0 requiring `tone`, then 2.1.0 where it is optional, serving now
    required = served.new_version(
        "{{tone}} {{inquiry}}", variables=[{"name": "inquiry"}, {"name": "tone", "required": True}]
    )
    optional = served.new_version(
        "{{tone}}: {{inquiry}}", variables=[{"name": "inquiry"}, {"name": "tone", "required": False}]
    )
    for version in (required, optional):
        approve_for(version, "production", reviewers)
        served.deploy(version)
    body = validate(api, served.deployer, optional, required).json()
    assert codes(body) == ["breaking_interface"]
    assert "optional in the current version" in body["impact"]["interface"]["breaking"][0]


def test_validate__target_with_a_variable_fewer__not_breaking(api, served, breaking):
    # Given 2.0.0 (inquiry, customer) serving again after 3.0.0 (inquiry): to 3.0.0 drops a variable, and the
    # values callers send for it are ignored
    needs_customer, without = breaking
    served.deploy(needs_customer)
    body = validate(api, served.deployer, needs_customer, without).json()
    assert body["valid"] is True, body
    assert body["impact"]["interface"]["breaking"] == []
    assert body["impact"]["rollsForward"] is True


def test_validate__several_reasons__each_listed(api, served):
    _, previous, _ = served.versions
    body = validate(api, served.deployer, previous, previous).json()
    assert codes(body) == ["same_version", "current_not_active"]


def test_validate__target_rolled_back_there_before__said_in_the_impact(api, served):
    _, previous, current = served.versions
    roll_back_in_emergency(actor=served.deployer, template_id=served.template.pk, environment="production", reason="x")
    # 1.0.1 serves; 1.0.2 was rolled back: going back to it is a manual act, and the impact says so
    body = validate(api, served.deployer, previous, current).json()
    assert body["valid"] is True
    assert body["impact"]["targetRolledBackHere"] is True


# -- the target's own numbers ------------------------------------------------------------------------


def test_validate__target_performance__its_own_executions_in_its_times_there_only(api, served):
    first, previous, current = served.versions
    # Given 1.0.1's time in production set to 10:00-12:00 two days ago (and 1.0.0's before it)
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    live_from, live_to = day + timedelta(hours=10, minutes=30), day + timedelta(hours=12, minutes=15)
    deployments = {d.version_id: d for d in served.deployments()}
    Deployment.objects.filter(pk=deployments[first.pk].pk).update(deployed_at=day, ended_at=live_from)
    Deployment.objects.filter(pk=deployments[previous.pk].pk).update(deployed_at=live_from, ended_at=live_to)
    Deployment.objects.filter(pk=deployments[current.pk].pk).update(deployed_at=live_to)
    # And executions of 1.0.1 inside that time (some in partial hours, read raw), before and after it, in
    # staging, and of other versions
    inside = [(live_from + timedelta(minutes=7 * i), i % 4 != 0, 100.0 + 10 * i, 0.001 * i) for i in range(15)]
    rows = [
        ExecutionReportFactory(
            version=previous,
            timestamp=at.isoformat(),
            status="success" if ok else "error",
            responseTime=ms,
            tokenUsage={"inputTokens": 1, "outputTokens": 1, "cost": cost},
            metadata={"requestId": f"in-{index}"},
        )
        for index, (at, ok, ms, cost) in enumerate(inside)
    ]
    outside = [
        (previous, live_from - timedelta(minutes=1), "production"),
        (previous, live_to, "production"),  # the end is excluded
        (previous, live_from + timedelta(minutes=5), "staging"),
        (first, live_from + timedelta(minutes=5), "production"),
        (current, live_to + timedelta(minutes=5), "production"),
    ]
    rows += [
        ExecutionReportFactory(
            version=version, timestamp=at.isoformat(), environment=environment, metadata={"requestId": f"out-{i}"}
        )
        for i, (version, at, environment) in enumerate(outside)
    ]
    store(rows)
    # When the deployer validates a rollback to 1.0.1
    performance = validate(api, served.deployer, current, previous).json()["impact"]["targetPerformance"]
    # Then its numbers are those of its own executions in that time, computed here independently
    times = [ms for _, _, ms, _ in inside]
    assert performance["executions"] == 15
    assert performance["successRate"] == pytest.approx(100 * sum(ok for _, ok, _, _ in inside) / 15, abs=1e-3)
    assert performance["averageCost"] == pytest.approx(sum(cost for *_, cost in inside) / 15, abs=1e-6)
    assert performance["averageResponseTime"] == pytest.approx(np.mean(times), abs=0.01)
    # Nearest rank, as API.md defines percentiles: the smallest value with 95% of values at or below it
    assert performance["p95ResponseTime"] == pytest.approx(sorted(times)[math.ceil(0.95 * 15) - 1], rel=0.01)
    assert [period["from"] for period in performance["periods"]] == [live_from.isoformat().replace("+00:00", "Z")]


def test_validate__target_live_there_twice__both_times_counted(api, served):
    first, _, current = served.versions
    # Given 1.0.0 live in production twice: deployed first, then redeployed after 1.0.2, then 1.0.2 again
    served.deploy(first)
    served.deploy(current)
    spans = [(d.deployed_at, d.ended_at) for d in served.deployments() if d.version_id == first.pk]
    assert len(spans) == 2
    rows = [
        ExecutionReportFactory(
            version=first, timestamp=(start + (end - start) / 2).isoformat(), metadata={"requestId": f"twice-{i}"}
        )
        for i, (start, end) in enumerate(spans)
    ]
    store(rows)
    performance = validate(api, served.deployer, current, first).json()["impact"]["targetPerformance"]
    assert performance["executions"] == 2
    assert len(performance["periods"]) == 2


# -- bad input and permissions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ({"currentVersionId": "not-an-id"}, 400, "currentVersionId"),
        ({"targetVersionId": ""}, 400, "targetVersionId"),
        ({"environment": "moon"}, 400, "environment"),
        ({"force": "perhaps"}, 400, "force"),
        ({"currentVersionId": UNKNOWN}, 404, None),
        ({"targetVersionId": UNKNOWN}, 404, None),
    ],
)
def test_validate__bad_query__4xx_naming_it(api, served, query, status, field):
    _, previous, current = served.versions
    full = {"currentVersionId": str(current.pk), "targetVersionId": str(previous.pk), **query}
    response = api.as_user(served.deployer).get("/api/rollback/validate", data=full)
    assert response.status_code == status, response.json()
    if field:
        assert field in response.json()["error"]["fields"]


def test_validate__missing_ids__400(api, served):
    response = api.as_user(served.deployer).get("/api/rollback/validate")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"currentVersionId", "targetVersionId"}


@pytest.mark.parametrize("roles", [(), ("author",), ("security",), ("analyst",)])
def test_validate__without_the_deployer_role__403(api, served, make_user, roles):
    _, previous, current = served.versions
    assert validate(api, make_user(*roles), current, previous).status_code == 403
