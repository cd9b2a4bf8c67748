"""A window that ends inside an hour is read to the end of that hour (its rollup) when nothing of the scope
lies after its end in that hour (analytics.selectors.window_to_read): the answers stay exact, and an
execution stamped after the end (a client's clock ahead) keeps the raw reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from analytics.periods import period_from
from analytics.selectors import window_to_read
from analytics.windows import Window, floor_hour
from lifecycle.core.db.snapshots import one_snapshot
from lifecycle.releases.services import create_version_live_in_development as create_version
from lifecycle.testing.executions import store
from lifecycle.testing.factories import ExecutionReportFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def half_past() -> datetime:
    """Half past an hour two hours ago: a window's end inside an hour, with room on both sides."""
    return floor_hour(datetime.now(UTC)) - timedelta(hours=2) + timedelta(minutes=30)


def report(version, moment: datetime, response_time: float, status: str = "success") -> dict:
    return ExecutionReportFactory(
        version=version, timestamp=moment.isoformat(), responseTime=response_time, status=status
    )


def read_in_one_snapshot(scope, window: Window) -> Window:
    """window_to_read as the answers call it: inside one_snapshot (outside the test's own transaction on
    PostgreSQL, whose READ COMMITTED would not share one snapshot between the look and the reads)."""
    with one_snapshot():
        return window_to_read(scope, window)


# Committed for real (no test transaction around them): one_snapshot then opens its own, as in production.
in_its_own_transactions = pytest.mark.django_db(transaction=True)


@in_its_own_transactions
def test_window_to_read__nothing_after_the_end_in_its_hour__read_to_the_end_of_the_hour(template, half_past):
    version = template.latest_version
    store([report(version, half_past - timedelta(minutes=10), 10)])
    window = Window(half_past - timedelta(days=1, minutes=7), half_past)
    read = read_in_one_snapshot({"version_id": version.pk}, window)
    assert read == Window(window.start, half_past + timedelta(minutes=30))


@in_its_own_transactions
def test_window_to_read__an_execution_after_the_end_in_its_hour__the_window_as_asked(template, half_past):
    version = template.latest_version
    store([report(version, half_past + timedelta(minutes=10), 10)])
    window = Window(half_past - timedelta(days=1), half_past)
    assert read_in_one_snapshot({"version_id": version.pk}, window) == window


@in_its_own_transactions
def test_window_to_read__another_versions_execution_after_the_end__does_not_count(template, author, half_past):
    other = create_version(actor=author, template_id=template.pk, definition={"content": "B {{inquiry}}"})
    store([report(other, half_past + timedelta(minutes=10), 10)])
    window = Window(None, half_past)
    read = read_in_one_snapshot({"version_id": template.versions.earliest("created_at").pk}, window)
    assert read == Window(None, half_past + timedelta(minutes=30))


@in_its_own_transactions
def test_window_to_read__ending_before_the_retention_of_raw_rows__the_window_as_asked(template, settings):
    # Raw rows older than the retention are deleted and their rollups kept: none found after the end would
    # say nothing about what the hour's rollup holds
    settings.EXECUTION_RETENTION_DAYS = 30
    end = floor_hour(datetime.now(UTC)) - timedelta(days=31) + timedelta(minutes=30)
    window = Window(end - timedelta(days=1), end)
    assert read_in_one_snapshot({"version_id": template.latest_version.pk}, window) == window


@in_its_own_transactions
def test_window_to_read__inside_another_transaction__only_where_it_holds_one_snapshot(template, half_past):
    window = Window(half_past - timedelta(days=1), half_past)
    with transaction.atomic():
        read = window_to_read({"version_id": template.latest_version.pk}, window)
    # SQLite's transactions hold the write lock (nothing commits meanwhile); PostgreSQL's READ COMMITTED
    # takes a snapshot per statement, so the window is read as asked there
    widened = Window(window.start, half_past + timedelta(minutes=30))
    assert read == (widened if connection.vendor == "sqlite" else window)


@in_its_own_transactions
@pytest.mark.parametrize(
    ("start", "end"),
    [
        (timedelta(hours=-5), timedelta(0)),  # ends on the hour
        (timedelta(minutes=5), timedelta(minutes=20)),  # within one hour: raw either way
    ],
)
def test_window_to_read__nothing_to_gain__the_window_as_asked(template, half_past, start, end):
    hour = floor_hour(half_past)
    window = Window(hour + start, hour + end)
    assert read_in_one_snapshot({"version_id": template.latest_version.pk}, window) == window


@pytest.mark.parametrize("rolled_up", [True, False], ids=["rolled up", "pending"])
def test_metrics_and_analytics__window_ending_inside_an_hour__exactly_what_lies_before_its_end(
    api, analyst, template, half_past, rolled_up
):
    version = template.latest_version
    before = [report(version, half_past - timedelta(minutes=minutes), 10 * minutes) for minutes in (1, 20, 29)]
    store(before, roll_up=rolled_up)
    params = {"startDate": (half_past - timedelta(hours=3)).isoformat(), "endDate": half_past.isoformat()}
    metrics = api.as_user(analyst).get("/api/performance/metrics", data={"versionId": str(version.pk), **params}).json()
    assert (metrics["totalExecutions"], metrics["averageResponseTime"]) == (3, 166.67)
    assert metrics["p99ResponseTime"] == pytest.approx(290, rel=0.01)
    analytics = api.as_user(analyst).get("/api/performance/analytics", data={"templateId": str(template.pk), **params})
    assert analytics.json()["totalExecutions"] == 3
    overview = api.as_user(analyst).get("/api/performance/overview", data=params).json()
    assert [row["executions"] for row in overview["templates"]] == [3]


def test_metrics_and_analytics__an_execution_stamped_after_the_end_in_its_hour__not_counted(
    api, analyst, template, half_past
):
    version = template.latest_version
    store(
        [
            report(version, half_past - timedelta(minutes=10), 100),
            report(version, half_past + timedelta(minutes=10), 900, status="error"),
        ]
    )
    params = {"startDate": (half_past - timedelta(hours=3)).isoformat(), "endDate": half_past.isoformat()}
    metrics = api.as_user(analyst).get("/api/performance/metrics", data={"versionId": str(version.pk), **params}).json()
    assert (metrics["totalExecutions"], metrics["errorCount"]) == (1, 0)
    assert metrics["p99ResponseTime"] == pytest.approx(100, rel=0.01)  # within 1%, as every percentile
    analytics = api.as_user(analyst).get("/api/performance/analytics", data={"templateId": str(template.pk), **params})
    assert (analytics.json()["totalExecutions"], analytics.json()["errorAnalysis"]) == (1, [])
    overview = api.as_user(analyst).get("/api/performance/overview", data=params).json()
    assert [row["executions"] for row in overview["templates"]] == [1]
    assert overview["templates"][0]["p95ResponseTime"] == pytest.approx(100, rel=0.01)


def test_dashboard_periods__24h_7d_30d__from_the_start_of_the_hour_that_long_before_now():
    now = datetime(2026, 11, 1, 10, 17, 42, tzinfo=UTC)
    for key, length in (("24h", timedelta(hours=24)), ("7d", timedelta(days=7)), ("30d", timedelta(days=30))):
        period = period_from({"period": key}, now=now)
        assert period.window == Window(datetime(2026, 11, 1, 10, tzinfo=UTC) - length, now), key
