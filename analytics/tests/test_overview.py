"""GET /api/performance/overview (issue 15): every template's numbers the caller may read, side by side, from
the same rollups and raw edges as a template's analytics; zeros and nulls where a template has none; no
template the caller may not read; the window's rules as the other answers have them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.models import Execution
from lifecycle.releases.services import create_version_live_in_development as create_version
from lifecycle.testing.executions import random_reports, store
from lifecycle.testing.factories import create_template

pytestmark = pytest.mark.django_db

OVERVIEW = "/api/performance/overview"
ANALYTICS = "/api/performance/analytics"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def overview(api, user, **params):
    response = api.as_user(user).get(OVERVIEW, data=params)
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.fixture
def busy(make_user):
    """Two authors' templates; alice's has two versions and executions over four days, partly rolled up."""
    alice, bob = make_user("author"), make_user("author")
    busy = create_template(alice, name="Busy prompt")
    second = create_version(
        actor=alice, template_id=busy.pk, definition={"content": busy.latest_version.content + " Be brief."}
    )
    quiet = create_template(bob, name="Quiet prompt")
    end = datetime.now(UTC).replace(microsecond=0)
    reports = random_reports([busy.latest_version, second], 400, start=end - timedelta(days=4), end=end)
    store(reports[:300])
    store(reports[300:], roll_up=False)  # pending: read raw
    return alice, bob, busy, quiet, end


def test_overview__figures__those_of_the_templates_analytics_for_the_same_window(api, busy, make_user):
    _alice, _, template, _, end = busy
    window = {"startDate": iso(end - timedelta(days=3, minutes=17)), "endDate": iso(end - timedelta(minutes=5))}
    analyst = make_user("analyst")
    answer = overview(api, analyst, **window)
    rows = {row["name"]: row for row in answer["templates"]}
    analytics = api.as_user(analyst).get(ANALYTICS, data={"templateId": str(template.pk), **window}).json()
    busy_row = rows["Busy prompt"]
    assert busy_row["executions"] == analytics["totalExecutions"] > 0
    assert busy_row["successRate"] == analytics["averagePerformance"]["successRate"]
    assert busy_row["p95ResponseTime"] == analytics["averagePerformance"]["p95ResponseTime"]
    assert busy_row["totalCost"] == pytest.approx(sum(row["totalCost"] for row in analytics["byVersion"]), abs=1e-6)
    assert sum(point["executions"] for point in busy_row["trend"]) == busy_row["executions"]
    # satisfaction, counted here from the stored rows
    start, stop = datetime.fromisoformat(window["startDate"]), datetime.fromisoformat(window["endDate"])
    rated = Execution.objects.filter(
        template_id=template.pk, executed_at__gte=start, executed_at__lt=stop, user_satisfaction__isnull=False
    ).values_list("user_satisfaction", flat=True)
    assert busy_row["averageSatisfaction"] == pytest.approx(sum(rated) / len(rated), abs=1e-3)
    assert rows["Quiet prompt"] == {
        "templateId": str(busy[3].pk),
        "name": "Quiet prompt",
        "executions": 0,
        "successRate": None,
        "p95ResponseTime": None,
        "totalCost": 0,
        "averageSatisfaction": None,
        "trend": [],
    }
    assert (answer["granularity"], answer["more"]) == ("day", False)


def test_overview__an_author__only_the_templates_they_maintain(api, busy):
    alice, bob, _, _, _ = busy
    assert [row["name"] for row in overview(api, alice)["templates"]] == ["Busy prompt"]
    assert [row["name"] for row in overview(api, bob)["templates"]] == ["Quiet prompt"]


def test_overview__maintaining_nothing__an_empty_list(api, busy, make_user):
    assert overview(api, make_user())["templates"] == []


def test_overview__a_name__only_templates_named_like_it(api, busy, make_user):
    answer = overview(api, make_user("deployer"), name="QUIET")
    assert [row["name"] for row in answer["templates"]] == ["Quiet prompt"]
    assert overview(api, make_user("deployer"), name="nobody")["templates"] == []


def test_overview__an_empty_window__zeros_and_no_trend(api, busy, make_user):
    moment = iso(busy[4] - timedelta(days=1))
    answer = overview(api, make_user("analyst"), startDate=moment, endDate=moment)
    assert [row["executions"] for row in answer["templates"]] == [0, 0]
    assert all(row["trend"] == [] and row["p95ResponseTime"] is None for row in answer["templates"])


def test_overview__a_day__by_the_hour(api, busy, make_user):
    answer = overview(api, make_user("analyst"), startDate=iso(busy[4] - timedelta(days=1)), endDate=iso(busy[4]))
    assert answer["granularity"] == "hour"
    starts = [point["start"] for point in answer["templates"][0]["trend"]]
    assert starts == sorted(starts)
    assert all(start.endswith(":00:00Z") for start in starts)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"startDate": "2026-01-02T00:00:00Z", "endDate": "2026-01-01T00:00:00Z"}, "startDate"),
        (
            {"startDate": "2025-01-01T00:00:00Z", "endDate": "2026-01-01T00:00:00Z", "granularity": "hour"},
            "granularity",
        ),
        ({"startDate": "1999-12-31T00:00:00Z"}, "startDate"),
        ({"environment": "moon"}, "environment"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_overview__bad_query__400_naming_the_field(api, make_user, params, field):
    response = api.as_user(make_user("analyst")).get(OVERVIEW, data=params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()


def test_overview__anonymous__401(api):
    assert api.anonymous().get(OVERVIEW).status_code == 401


@pytest.mark.parametrize(("path", "days"), [(OVERVIEW, 7), (ANALYTICS, 30)])
def test_default_window__from_the_start_of_the_hour_that_many_days_before_the_end(api, busy, make_user, path, days):
    template = busy[2]
    end = datetime(2026, 11, 1, 10, 17, 42, tzinfo=UTC)
    params = {"endDate": iso(end)} | ({"templateId": str(template.pk)} if path == ANALYTICS else {})
    response = api.as_user(make_user("analyst")).get(path, data=params)
    assert response.status_code == 200, response.json()
    assert response.json()["startDate"] == iso(datetime(2026, 11, 1, 10, tzinfo=UTC) - timedelta(days=days))
