"""Metrics and analytics on empty data and at the edges of what a window may be (issue 10, point 3).

Every answer on no data is zeros or nulls in the shape of an answer with data; windows are bounded
([2000-01-01T00:00:00Z, now + 1 day]) and beyond that a 400 names the field and the bound; an answer's
work does not grow with the window's length beyond what the data holds.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from analytics.metrics import template_analytics
from analytics.models import Execution
from analytics.windows import Window
from lifecycle.releases.services import create_version_live_in_development as create_version
from lifecycle.testing.executions import random_reports, store
from lifecycle.testing.factories import ExecutionReportFactory

pytestmark = pytest.mark.django_db

METRICS = "/api/performance/metrics"
ANALYTICS = "/api/performance/analytics"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def get(api, user, path, **params):
    return api.as_user(user).get(path, data=params)


def metrics_of(api, user, version, **params):
    response = get(api, user, METRICS, versionId=str(version.pk), **params)
    assert response.status_code == 200, response.json()
    return response.json()


def analytics_of(api, user, template, **params):
    response = get(api, user, ANALYTICS, templateId=str(template.pk), **params)
    assert response.status_code == 200, response.json()
    return response.json()


def assert_empty_metrics(body):
    """A metrics answer over no executions: counts zero, everything averaged or rated null."""
    assert (body["totalExecutions"], body["successCount"], body["errorCount"], body["timeoutCount"]) == (0, 0, 0, 0)
    for key in ("successRate", "averageResponseTime", "p50ResponseTime", "p95ResponseTime", "p99ResponseTime"):
        assert body[key] is None, key
    assert body["tokenUsage"] == {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0, "averagePerExecution": None}
    assert (body["totalCost"], body["averageCost"]) == (0, None)
    assert (body["averageSatisfaction"], body["conversionRate"], body["errorsByType"]) == (None, None, {})


def assert_empty_analytics(body):
    """An analytics answer over no executions: the same keys as with data, zeros, nulls and empty lists."""
    assert body["totalExecutions"] == 0
    assert body["averagePerformance"] == {
        "successRate": None,
        "averageResponseTime": None,
        "p95ResponseTime": None,
        "averageCost": None,
    }
    assert (body["byVersion"], body["byRegion"], body["errorAnalysis"], body["timeSeries"]) == ([], [], [], [])
    forecast = body["forecast"]
    assert (forecast["available"], forecast["basedOnDays"], forecast["days"]) == (False, 0, [])


@pytest.fixture
def with_data(template, now):
    """200 reports of the template's first version over the last ten days, rolled up."""
    version = template.latest_version
    rows = random_reports([version], 200, start=now - timedelta(days=10), end=now - timedelta(seconds=1), seed=3)
    store(rows)
    return version, rows


# No data, or none in the window


def test_analytics__no_executions_at_all__zeros_and_nulls_in_the_answers_shape(api, analyst, template):
    # Given a template nobody has reported an execution for
    # When its analytics are asked for with the default window (the last 30 days)
    body = analytics_of(api, analyst, template)
    # Then the answer is the usual one, empty
    assert_empty_analytics(body)
    assert body["templateId"] == str(template.pk)


def test_metrics__no_executions_at_all__zeros_and_nulls(api, analyst, template):
    assert_empty_metrics(metrics_of(api, analyst, template.latest_version))


def test_metrics_and_analytics__window_without_executions__empty_answers(api, analyst, template, with_data, now):
    # Given executions over the last ten days only
    version, _ = with_data
    # When the window is the ten days before them
    window = {"startDate": iso(now - timedelta(days=20)), "endDate": iso(now - timedelta(days=10, hours=1))}
    # Then both answers are empty, not errors
    assert_empty_metrics(metrics_of(api, analyst, version, **window))
    assert_empty_analytics(analytics_of(api, analyst, template, **window))


@pytest.mark.parametrize("moment", ["2026-01-31T10:00:00Z", "2026-01-31T10:17:23.5+02:00", "now"])
def test_metrics_and_analytics__start_equal_to_end__empty_window_answers_zeros(
    api, analyst, template, with_data, now, moment
):
    # Given executions around the chosen moment
    version, _ = with_data
    moment = iso(now - timedelta(days=2)) if moment == "now" else moment
    # When the window is [t, t): it holds no moment
    window = {"startDate": moment, "endDate": moment}
    # Then the answers are empty, not a 400
    assert_empty_metrics(metrics_of(api, analyst, version, **window))
    assert_empty_analytics(analytics_of(api, analyst, template, **window))


@pytest.mark.parametrize("path", [METRICS, ANALYTICS])
def test_window__start_after_end__400_naming_start(api, analyst, template, path):
    params = {
        "versionId" if path == METRICS else "templateId": str(
            template.latest_version.pk if path == METRICS else template.pk
        )
    }
    response = get(api, analyst, path, **params, startDate="2026-01-02T00:00:00Z", endDate="2026-01-01T23:59:59Z")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["startDate"]


def test_metrics_and_analytics__window_before_the_template_existed__empty(api, analyst, template, with_data):
    version, _ = with_data
    window = {"startDate": "2000-01-01T00:00:00Z", "endDate": "2001-06-01T00:00:00Z"}
    assert_empty_metrics(metrics_of(api, analyst, version, **window))
    assert_empty_analytics(analytics_of(api, analyst, template, **window))


def test_metrics_and_analytics__window_in_the_future__empty(api, analyst, template, with_data, now):
    version, _ = with_data
    window = {"startDate": iso(now + timedelta(minutes=10)), "endDate": iso(now + timedelta(hours=23))}
    assert_empty_metrics(metrics_of(api, analyst, version, **window))
    assert_empty_analytics(analytics_of(api, analyst, template, **window))


def test_metrics_and_analytics__version_never_executed__empty_and_not_listed(api, analyst, author, template, with_data):
    # Given a second version nobody has reported for, next to a first one with executions
    first, rows = with_data
    second = create_version(actor=author, template_id=template.pk, definition={"content": "B {{inquiry}}"})
    # Then its metrics are empty
    assert_empty_metrics(metrics_of(api, analyst, second))
    # And the template's analytics count only the first one's executions
    body = analytics_of(api, analyst, template)
    assert [item["versionId"] for item in body["byVersion"]] == [str(first.pk)]
    assert body["byVersion"][0]["executions"] == body["totalExecutions"] == len(rows)


def test_metrics_and_analytics__environment_without_data__empty(api, analyst, template, with_data):
    # Given executions reported in production and staging only
    version, rows = with_data
    assert {row["environment"] for row in rows} == {"production", "staging"}
    # When development is asked for
    assert_empty_metrics(metrics_of(api, analyst, version, environment="development"))
    body = analytics_of(api, analyst, template, environment="development")
    assert_empty_analytics(body)
    assert body["environment"] == "development"


def test_metrics_and_analytics__one_row_window__that_rows_numbers(api, analyst, template, now):
    # Given one execution, failed, inside a window of one minute
    version = template.latest_version
    moment = (now - timedelta(hours=5)).replace(second=30, microsecond=0)
    store(
        [
            ExecutionReportFactory(
                version=version,
                timestamp=iso(moment),
                status="error",
                responseTime=812.5,
                error={"type": "RateLimit", "message": "429"},
                tokenUsage={"inputTokens": 7, "outputTokens": 9, "cost": 0.25},
                userSatisfaction=4,
                converted=True,
            )
        ]
    )
    window = {
        "startDate": iso(moment.replace(second=0)),
        "endDate": iso(moment.replace(second=0) + timedelta(minutes=1)),
    }
    # Then every number is that row's
    body = metrics_of(api, analyst, version, **window)
    assert (body["totalExecutions"], body["successCount"], body["errorCount"]) == (1, 0, 1)
    assert (body["successRate"], body["averageResponseTime"]) == (0, 812.5)
    for key in ("p50ResponseTime", "p95ResponseTime", "p99ResponseTime"):
        assert body[key] == pytest.approx(812.5, rel=0.01)
    assert body["tokenUsage"] == {"inputTokens": 7, "outputTokens": 9, "totalTokens": 16, "averagePerExecution": 16}
    assert (body["totalCost"], body["averageCost"]) == (0.25, 0.25)
    assert (body["averageSatisfaction"], body["conversionRate"], body["errorsByType"]) == (4, 100, {"RateLimit": 1})
    analytics = analytics_of(api, analyst, template, **window)
    assert analytics["totalExecutions"] == 1
    assert [(item["versionId"], item["executions"]) for item in analytics["byVersion"]] == [(str(version.pk), 1)]
    assert [(item["type"], item["count"], item["share"]) for item in analytics["errorAnalysis"]] == [
        ("RateLimit", 1, 100)
    ]
    (point,) = analytics["timeSeries"]
    assert point["start"] == iso(moment.replace(minute=0, second=0))  # the hour it fell in
    assert (point["executions"], point["successRate"], point["cost"]) == (1, 0, 0.25)
    assert (analytics["forecast"]["available"], analytics["forecast"]["basedOnDays"]) == (False, 1)


# The calendar's limits and the windows' bounds


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"endDate": "9999-12-31T23:59:59-14:00"}, "endDate"),
        ({"startDate": "0001-01-01T00:00:00+14:00"}, "startDate"),
        ({"startDate": "0001-01-01T00:00:00+14:00", "endDate": "9999-12-31T23:59:59-14:00"}, "startDate"),
        ({"startDate": "1999-12-31T23:59:59.999999Z"}, "startDate"),
        ({"startDate": "2000-01-01T00:30:00+01:00"}, "startDate"),  # 1999-12-31T23:30:00Z
        ({"endDate": "3000-01-01T00:00:00Z"}, "endDate"),
        ({"endDate": "1999-06-01T00:00:00Z"}, "endDate"),
    ],
)
@pytest.mark.parametrize("path", [METRICS, ANALYTICS])
def test_window__beyond_the_bounds__400_naming_the_field_and_the_bound(api, analyst, template, path, params, field):
    # Given a window reaching before 2000-01-01T00:00:00Z or more than a day after now
    scope = {"versionId": str(template.latest_version.pk)} if path == METRICS else {"templateId": str(template.pk)}
    # When it is asked for
    response = get(api, analyst, path, **scope, **params)
    # Then a 400 names the field, and says how far a window may reach
    assert response.status_code == 400, response.json()
    messages = response.json()["error"]["fields"][field]
    assert "2000-01-01T00:00:00Z" in messages[0]
    assert "1 day after now" in messages[0]


@pytest.mark.parametrize("path", [METRICS, ANALYTICS])
def test_window__at_the_bounds__answered(api, analyst, template, now, path):
    scope = {"versionId": str(template.latest_version.pk)} if path == METRICS else {"templateId": str(template.pk)}
    bounds = {"startDate": "2000-01-01T01:00:00+01:00", "endDate": iso(now + timedelta(days=1) - timedelta(seconds=5))}
    response = get(api, analyst, path, **scope, **bounds)
    assert response.status_code == 200, response.json()
    assert response.json()["startDate"] == "2000-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "timestamp",
    ["1999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "2000-01-01T00:59:59+01:00", "9999-12-31T23:59:59-14:00"],
)
def test_record__timestamp_outside_what_a_window_may_hold__400_naming_timestamp(api, integration, template, timestamp):
    # Given a report timed before 2000-01-01T00:00:00Z or at the calendar's far end
    body = ExecutionReportFactory(version=template.latest_version, timestamp=timestamp)
    # When it is reported
    response = api.as_user(integration).post("/api/executions", body)
    # Then it is refused, naming the field, and nothing is stored
    assert response.status_code == 400, response.json()
    assert list(response.json()["error"]["fields"]) == ["timestamp"]
    assert not Execution.objects.exists()


def test_record__timestamp_at_the_floor__stored_and_found_by_the_widest_window(api, integration, analyst, template):
    version = template.latest_version
    response = api.as_user(integration).post(
        "/api/executions", ExecutionReportFactory(version=version, timestamp="2000-01-01T01:00:00+01:00")
    )
    assert response.status_code == 201, response.json()
    body = metrics_of(api, analyst, version, startDate="2000-01-01T00:00:00Z")
    assert body["totalExecutions"] == 1


# The work of an answer


def _growing_days(version, first_day: datetime, days: int) -> list[dict]:
    """`days` days whose executions grow by 3 a day (4, 7, 10, ...), each costing 0.5."""
    rows = []
    for day in range(days):
        for n in range(4 + 3 * day):
            moment = first_day + timedelta(days=day, minutes=n)
            rows.append(ExecutionReportFactory(version=version, timestamp=iso(moment), tokenUsage={"cost": 0.5}))
    return rows


def test_analytics__window_ending_after_now__future_days_are_not_history(api, analyst, template, now):
    # Given 14 days of growing executions, the last of them yesterday
    version = template.latest_version
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    first_day = today - timedelta(days=14)
    store(_growing_days(version, first_day, 14))
    start = iso(first_day - timedelta(days=3))
    # When the window ends now, and when it ends a day later (tomorrow holds no executions yet)
    until_now = analytics_of(api, analyst, template, startDate=start, endDate=iso(now))["forecast"]
    until_tomorrow = analytics_of(api, analyst, template, startDate=start, endDate=iso(now + timedelta(days=1)))[
        "forecast"
    ]
    # Then both forecasts rest on the same history, the 14 days and today so far: tomorrow is not a day
    # without executions
    assert until_now["available"] is True
    assert until_tomorrow == until_now
    assert until_now["basedOnDays"] == 15


def test_analytics__a_window_reaching_far_into_the_future__handles_only_the_days_the_data_holds(
    analyst, template, now, monkeypatch
):
    # Given executions on three days of the last week
    version = template.latest_version
    store(
        [
            ExecutionReportFactory(version=version, timestamp=iso(now - timedelta(days=days, minutes=5)))
            for days in (1, 3, 6)
        ]
    )
    handled = []
    from analytics import metrics

    original = metrics.forecast

    def counting_forecast(daily, *args, **kwargs):
        handled.append(len(daily))
        return original(daily, *args, **kwargs)

    monkeypatch.setattr(metrics, "forecast", counting_forecast)
    # When the service is asked for a window from the earliest moment to a thousand years from now
    # (the API refuses such an end; the service must not depend on that to stay cheap)
    far = Window(datetime(2000, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC))
    body = template_analytics(actor=analyst, template_id=template.pk, window=far, environment=None, granularity="day")
    # Then the forecast's history is the days from the first execution to today, not to the year 3000
    first_day = (now - timedelta(days=6, minutes=5)).date()
    assert handled == [(now.date() - first_day).days + 1]
    assert body["totalExecutions"] == 3


def test_analytics__widest_window__as_many_queries_as_the_default_window(
    api, analyst, template, with_data, now, django_assert_max_num_queries
):
    # Given executions over the last ten days, and the queries of the default window
    api.as_user(analyst)
    with django_assert_max_num_queries(100) as default_window:  # the last 30 days
        api.get(ANALYTICS, data={"templateId": str(template.pk)})
    # When the window reaches from the earliest moment to the latest a window may end at
    widest = {
        "templateId": str(template.pk),
        "startDate": "2000-01-01T00:00:00Z",
        "endDate": iso(now + timedelta(hours=23)),
    }
    with django_assert_max_num_queries(len(default_window.captured_queries)):
        response = api.get(ANALYTICS, data=widest)
    # Then it costs no more queries, and its forecast handled the ten days the data holds (and today)
    assert response.status_code == 200
    _, rows = with_data
    first = min(datetime.fromisoformat(row["timestamp"]) for row in rows).date()
    assert response.json()["forecast"]["basedOnDays"] == (now.date() - first).days + 1


def test_analytics__forecast_history__independent_fit_over_the_days_up_to_now(api, analyst, template, now):
    # Given 10 days of growing executions ending yesterday, and a window ending a day after now
    version = template.latest_version
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    first_day = today - timedelta(days=10)
    store(_growing_days(version, first_day + timedelta(hours=1), 10))
    forecast = analytics_of(api, analyst, template, startDate=iso(first_day), endDate=iso(now + timedelta(hours=20)))[
        "forecast"
    ]
    # Then the history is those 10 days and today (no executions yet), fitted independently here
    counts = [4 + 3 * day for day in range(10)] + [0]
    assert forecast["basedOnDays"] == len(counts)
    slope, intercept = np.polyfit(range(len(counts)), counts, 1)
    for step, day in enumerate(forecast["days"]):
        expected = max(0.0, intercept + slope * (len(counts) + step))
        assert math.isclose(day["executions"], expected, abs_tol=0.1)


@pytest.mark.parametrize("parameter", ["environment", "startDate", "endDate", "granularity"])
def test_analytics__a_parameter_given_empty__400_naming_it(api, analyst, template, parameter):
    # An empty value is a value, and not one the parameter takes (it is not read as "not given")
    response = api.as_user(analyst).get(f"/api/performance/analytics?templateId={template.pk}&{parameter}=")
    assert response.status_code == 400
    assert parameter in response.json()["error"]["fields"]
