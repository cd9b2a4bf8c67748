"""Metrics and analytics, checked against values computed here, independently, from the raw reports."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from analytics.models import Execution, HourlyStats
from analytics.rollups import roll_up_pending
from analytics.services import delete_expired_executions
from lifecycle.releases.services import create_version_live_in_development as create_version
from lifecycle.testing.executions import random_reports, store
from lifecycle.testing.factories import ExecutionReportFactory

pytestmark = pytest.mark.django_db


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def exact_percentile(values, percent):
    """Nearest rank: the smallest value with at least `percent`% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]


def in_window(rows, start, end, **match):
    chosen = []
    for row in rows:
        moment = at(row["timestamp"])
        if (start is not None and moment < start) or moment >= end:
            continue
        if all(row.get(k) == v for k, v in match.items()):
            chosen.append(row)
    return chosen


def assert_close_percentile(actual, values, percent):
    exact = exact_percentile(values, percent)
    assert abs(actual - exact) <= 0.01 * exact + 1e-9, (percent, actual, exact)


@pytest.fixture(params=["rolled up", "half rolled up", "pending"])
def setup(request, create_template, author, now):
    """A template with two versions, 1,500 varied reports over the last ten days, stored through the service:
    all folded into the rollups, half of them, or none yet (the answers must be the same)."""
    template = create_template()
    v1 = template.latest_version
    v2 = create_version(actor=author, template_id=template.pk, definition={"content": "B {{inquiry}}"})
    rows = random_reports([v1, v2], 1500, start=now - timedelta(days=10), end=now - timedelta(seconds=1))
    if request.param == "half rolled up":
        store(rows[::2])
        store(rows[1::2], roll_up=False)
    else:
        store(rows, roll_up=request.param == "rolled up")
    return template, v1, v2, rows


def expected_metrics(rows):
    times = [row["responseTime"] for row in rows]
    statuses = Counter(row["status"] for row in rows)
    costs = [row["tokenUsage"]["cost"] for row in rows]
    satisfaction = [row["userSatisfaction"] for row in rows if "userSatisfaction" in row]
    conversions = [row["converted"] for row in rows if "converted" in row]

    def mean(values):
        return sum(values) / len(values) if values else None

    return {
        "totalExecutions": len(rows),
        "successCount": statuses["success"],
        "errorCount": statuses["error"] + statuses["timeout"],
        "successRate": 100 * statuses["success"] / len(rows),
        "averageResponseTime": sum(times) / len(rows),
        "inputTokens": sum(row["tokenUsage"]["inputTokens"] for row in rows),
        "outputTokens": sum(row["tokenUsage"]["outputTokens"] for row in rows),
        "totalCost": sum(costs),
        "averageCost": sum(costs) / len(rows),
        "averageSatisfaction": mean(satisfaction),
        "conversionRate": 100 * mean(conversions) if conversions else None,
        "errorsByType": Counter(row["error"]["type"] for row in rows if "error" in row),
        "times": times,
    }


def check_metrics(body, rows):
    expected = expected_metrics(rows)
    assert body["totalExecutions"] == expected["totalExecutions"]
    assert body["successCount"] == expected["successCount"]
    assert body["errorCount"] == expected["errorCount"]
    assert body["successRate"] == pytest.approx(expected["successRate"], abs=1e-3)
    assert body["averageResponseTime"] == pytest.approx(expected["averageResponseTime"], abs=0.01)
    for percent in (50, 95, 99):
        assert_close_percentile(body[f"p{percent}ResponseTime"], expected["times"], percent)
    assert body["tokenUsage"]["inputTokens"] == expected["inputTokens"]
    assert body["tokenUsage"]["outputTokens"] == expected["outputTokens"]
    assert body["tokenUsage"]["totalTokens"] == expected["inputTokens"] + expected["outputTokens"]
    assert body["totalCost"] == pytest.approx(expected["totalCost"], abs=1e-6)
    assert body["averageCost"] == pytest.approx(expected["averageCost"], abs=1e-6)
    for key in ("averageSatisfaction", "conversionRate"):
        if expected[key] is None:
            assert body[key] is None
        else:
            assert body[key] == pytest.approx(expected[key], abs=1e-3)
    assert body["errorsByType"] == dict(expected["errorsByType"])


def metrics(api, user, version, **params):
    response = api.as_user(user).get("/api/performance/metrics", data={"versionId": str(version.pk), **params})
    assert response.status_code == 200, response.json()
    return response.json()


def test_metrics__all_time__agree_with_the_raw_reports(api, analyst, setup):
    _, v1, _, rows = setup
    body = metrics(api, analyst, v1)
    check_metrics(body, [row for row in rows if row["templateVersionId"] == str(v1.pk)])


@pytest.mark.parametrize(
    ("start_offset", "end_offset"),
    [
        (timedelta(days=7, minutes=37, seconds=11), timedelta(days=2, minutes=13)),  # partial hours both ends
        (timedelta(days=3, hours=5), timedelta(days=1)),  # whole hours, not whole days
        (timedelta(hours=20, minutes=1), timedelta(hours=19, minutes=2)),  # inside two hours
        (timedelta(minutes=30), timedelta(minutes=5)),  # inside one hour
    ],
)
def test_metrics__window__exactly_the_half_open_window(api, analyst, setup, now, start_offset, end_offset):
    _, v1, _, rows = setup
    start, end = now - start_offset, now - end_offset
    # Three more executions inside the window, still pending: however the random rows fall, the window is
    # never empty, so the numbers below are always checked
    inside = [
        ExecutionReportFactory(
            version=v1, timestamp=(start + (end - start) * share).isoformat(), responseTime=100 + index
        )
        for index, share in enumerate((0.1, 0.5, 0.9))
    ]
    store(inside, roll_up=False)
    body = metrics(api, analyst, v1, startDate=start.isoformat(), endDate=end.isoformat())
    chosen = in_window([*rows, *inside], start, end, templateVersionId=str(v1.pk))
    assert len(chosen) >= 3
    check_metrics(body, chosen)


def test_metrics__window_edges__start_included_end_excluded(api, analyst, create_template, now):
    version = create_template().latest_version
    edge = (now - timedelta(hours=3)).replace(microsecond=0)
    store(
        [
            ExecutionReportFactory(version=version, timestamp=edge.isoformat(), responseTime=10),
            ExecutionReportFactory(version=version, timestamp=(edge + timedelta(hours=1)).isoformat(), responseTime=20),
        ]
    )
    body = metrics(api, analyst, version, startDate=edge.isoformat(), endDate=(edge + timedelta(hours=1)).isoformat())
    assert body["totalExecutions"] == 1
    assert body["averageResponseTime"] == 10


def test_metrics__environment_filter(api, analyst, setup):
    _, v1, _, rows = setup
    body = metrics(api, analyst, v1, environment="staging")
    check_metrics(body, [r for r in rows if r["templateVersionId"] == str(v1.pk) and r["environment"] == "staging"])


def test_metrics__no_executions__zeros_and_nulls(api, analyst, create_template):
    body = metrics(api, analyst, create_template().latest_version)
    assert body["totalExecutions"] == 0
    assert body["successRate"] is None
    assert body["p95ResponseTime"] is None


def test_retention__old_raw_rows_deleted_pending_ones_kept__rollups_still_answer(api, analyst, setup, now, settings):
    from analytics.models import PendingBatch

    _, v1, _, rows = setup
    before = metrics(api, analyst, v1)
    settings.EXECUTION_RETENTION_DAYS = 5
    cutoff = now - timedelta(days=5)
    old = len([row for row in rows if at(row["timestamp"]) < cutoff])
    old_pending = Execution.objects.filter(executed_at__lt=cutoff, batch_id__in=PendingBatch.objects.values("pk"))
    kept = old_pending.count()
    # The rows not yet in the rollups are kept, or nothing would ever count them
    assert delete_expired_executions() == old - kept
    assert Execution.objects.filter(executed_at__lt=cutoff).count() == kept
    # Once rolled up, they go too
    while roll_up_pending().executions:
        pass
    assert delete_expired_executions() == kept
    assert not Execution.objects.filter(executed_at__lt=cutoff).exists()
    after = metrics(api, analyst, v1)
    assert after == {**before, "endDate": after["endDate"]}


def analytics(api, user, template, **params):
    response = api.as_user(user).get("/api/performance/analytics", data={"templateId": str(template.pk), **params})
    assert response.status_code == 200, response.json()
    return response.json()


def test_analytics__totals_versions_regions_and_errors_agree_with_raw_reports(api, analyst, setup, now):
    template, v1, v2, rows = setup
    body = analytics(api, analyst, template)
    window = in_window(rows, now - timedelta(days=30), now)
    assert body["totalExecutions"] == len(window)
    times = [row["responseTime"] for row in window]
    assert body["averagePerformance"]["averageResponseTime"] == pytest.approx(sum(times) / len(times), abs=0.01)
    assert_close_percentile(body["averagePerformance"]["p95ResponseTime"], times, 95)

    by_version = {item["versionId"]: item for item in body["byVersion"]}
    for version in (v1, v2):
        chosen = [row for row in window if row["templateVersionId"] == str(version.pk)]
        item = by_version[str(version.pk)]
        assert item["version"] == version.number
        assert item["executions"] == len(chosen)
        assert_close_percentile(item["p95ResponseTime"], [row["responseTime"] for row in chosen], 95)

    regions = Counter(row["metadata"].get("region", "unknown") for row in window)
    assert {item["region"]: item["executions"] for item in body["byRegion"]} == dict(regions)

    errors = defaultdict(list)
    for row in window:
        if "error" in row:
            errors[row["error"]["type"]].append(row)
    analysis = {item["type"]: item for item in body["errorAnalysis"]}
    assert set(analysis) == set(errors)
    for error_type, failed in errors.items():
        item = analysis[error_type]
        assert item["count"] == len(failed)
        assert item["share"] == pytest.approx(100 * len(failed) / len(window), abs=1e-3)
        assert at(item["firstSeen"]) == min(at(row["timestamp"]) for row in failed)
        assert at(item["lastSeen"]) == max(at(row["timestamp"]) for row in failed)
        messages = {row["error"]["message"] for row in failed}
        assert 1 <= len(item["sampleMessages"]) <= 3
        assert set(item["sampleMessages"]) <= messages


@pytest.mark.parametrize("granularity", ["day", "hour"])
def test_analytics__time_series_per_bucket(api, analyst, setup, now, granularity):
    template, _, _, rows = setup
    start = now - timedelta(days=3, hours=2, minutes=17)
    body = analytics(
        api, analyst, template, startDate=start.isoformat(), endDate=now.isoformat(), granularity=granularity
    )
    window = in_window(rows, start, now)
    buckets = defaultdict(list)
    for row in window:
        moment = at(row["timestamp"])
        key = moment.replace(minute=0, second=0, microsecond=0)
        buckets[key.replace(hour=0) if granularity == "day" else key].append(row)
    series = {at(point["start"]): point for point in body["timeSeries"]}
    assert set(series) == set(buckets)
    for key, chosen in buckets.items():
        point = series[key]
        assert point["executions"] == len(chosen)
        successes = sum(row["status"] == "success" for row in chosen)
        assert point["successRate"] == pytest.approx(100 * successes / len(chosen), abs=1e-3)
        assert point["cost"] == pytest.approx(sum(row["tokenUsage"]["cost"] for row in chosen), abs=1e-6)
        assert_close_percentile(point["p95ResponseTime"], [row["responseTime"] for row in chosen], 95)


def test_analytics__forecast__too_little_history__says_so(api, analyst, create_template, now):
    version = create_template().latest_version
    store([ExecutionReportFactory(version=version, timestamp=(now - timedelta(days=2)).isoformat())])
    forecast = analytics(api, analyst, version.template)["forecast"]
    assert forecast["available"] is False
    assert "at least 7 days" in forecast["reason"]
    assert forecast["days"] == []


def test_analytics__forecast__linear_trend_with_interval(api, analyst, create_template, now):
    # Given 14 days whose executions grow by 3 a day (4, 7, 10, ...), each costing 0.5
    version = create_template().latest_version
    first_day = (now - timedelta(days=14)).replace(hour=12, minute=0, second=0, microsecond=0)
    rows = []
    for day in range(14):
        for n in range(4 + 3 * day):
            moment = first_day + timedelta(days=day, minutes=n)
            rows.append(ExecutionReportFactory(version=version, timestamp=moment.isoformat(), tokenUsage={"cost": 0.5}))
    store(rows)
    end = (first_day + timedelta(days=14)).replace(hour=0)
    forecast = analytics(
        api, analyst, version.template, startDate=(end - timedelta(days=20)).isoformat(), endDate=end.isoformat()
    )["forecast"]
    assert forecast["available"] is True
    assert forecast["model"].startswith("linear trend")
    counts = [4 + 3 * day for day in range(14)]
    slope, intercept = np.polyfit(range(14), counts, 1)  # an independent least-squares fit
    for step, day in enumerate(forecast["days"]):
        expected = intercept + slope * (14 + step)
        assert day["executions"] == pytest.approx(expected, abs=0.1)
        assert day["executionsLow"] <= day["executions"] <= day["executionsHigh"]
        assert day["cost"] == pytest.approx(expected * 0.5, abs=0.1)
    assert len(forecast["days"]) == 7


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "templateId"),
        ({"templateId": "x"}, "templateId"),
        ({"startDate": "2026-01-02T00:00:00Z", "endDate": "2026-01-01T00:00:00Z"}, "startDate"),
        ({"startDate": "2026-01-01"}, "startDate"),
        ({"endDate": "soon"}, "endDate"),
        ({"granularity": "week"}, "granularity"),
        ({"environment": "qa"}, "environment"),
        ({"granularity": "hour", "startDate": "2025-01-01T00:00:00Z"}, "granularity"),
    ],
)
def test_analytics__bad_parameters__400(api, analyst, create_template, params, field):
    template = create_template()
    query = params if field == "templateId" else {"templateId": str(template.pk), **params}
    response = api.as_user(analyst).get("/api/performance/analytics", data=query)
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]


def test_metrics__unknown_version__404(api, analyst):
    response = api.as_user(analyst).get("/api/performance/metrics?versionId=00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404


def test_permissions__analyst_superuser_and_own_author_read_others_do_not(
    api, analyst, make_user, create_template, author
):
    version = create_template().latest_version  # written by `author`
    path = f"/api/performance/metrics?versionId={version.pk}"
    assert api.as_user(analyst).get(path).status_code == 200
    assert api.as_user(make_user(superuser=True)).get(path).status_code == 200
    assert api.as_user(author).get(path).status_code == 200
    assert api.as_user(make_user("author")).get(path).status_code == 403  # another author
    assert api.as_user(make_user("technical")).get(path).status_code == 403
    other = api.as_user(make_user("author")).get(f"/api/performance/analytics?templateId={version.template_id}")
    assert other.status_code == 403
    assert api.anonymous().get(path).status_code == 401


def test_metrics__queries_do_not_grow_with_executions(
    api, analyst, create_template, now, django_assert_max_num_queries
):
    version = create_template().latest_version
    store(random_reports([version], 50, start=now - timedelta(days=3), end=now - timedelta(seconds=1), seed=1))
    api.as_user(analyst)
    with django_assert_max_num_queries(30) as few:
        api.get(f"/api/performance/metrics?versionId={version.pk}")
    queries = len(few.captured_queries)
    store(random_reports([version], 2000, start=now - timedelta(days=20), end=now - timedelta(seconds=1), seed=2))
    with django_assert_max_num_queries(queries):
        api.get(f"/api/performance/metrics?versionId={version.pk}")


@pytest.mark.parametrize("rollup", ["hourly", "daily"])
def test_rollups__every_count_agrees_with_the_raw_rows(setup, rollup):
    from django.db.models import Count, Sum

    from analytics.models import DailyStats

    while roll_up_pending().executions:  # whatever the fixture left pending
        pass

    raw = {
        (row["version_id"], row["environment"], row["region"]): (row["n"], row["rt"])
        for row in Execution.objects.values("version_id", "environment", "region")
        .annotate(n=Count("id"), rt=Sum("response_time_ms"))
        .order_by()
    }
    rolled = {
        (row["version_id"], row["environment"], row["region"]): (row["n"], row["rt"])
        for row in (HourlyStats if rollup == "hourly" else DailyStats)
        .objects.values("version_id", "environment", "region")
        .annotate(n=Sum("executions"), rt=Sum("response_time_sum"))
        .order_by()
    }
    assert raw.keys() == rolled.keys()
    for key, (count, total) in raw.items():
        assert rolled[key][0] == count
        assert rolled[key][1] == pytest.approx(total, rel=1e-9)


def test_totals__a_property_for_every_stat_field__in_the_rollups_order():
    import numpy as np

    from analytics.aggregates import STAT_FIELDS
    from analytics.selectors import Totals

    totals = Totals(np.arange(len(STAT_FIELDS), dtype=np.float64))
    assert [getattr(totals, name) for name in STAT_FIELDS] == list(range(len(STAT_FIELDS)))
