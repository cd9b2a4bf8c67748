"""Many windows at once (analytics.many_windows) answer exactly what the selectors answer for each alone:
rollups, raw edges and pending batches, for windows short and long, aligned to the hour or not, in two
environments, with executions rolled up and others still pending."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import numpy as np
import pytest

from analytics import histogram
from analytics.many_windows import Asked, latencies_of, totals_of
from analytics.selectors import Totals, latency_histograms, stat_totals
from analytics.windows import Window
from lifecycle.testing.executions import random_reports, store
from lifecycle.testing.factories import ExecutionReportFactory

pytestmark = pytest.mark.django_db


def windows(version_ids, end: datetime, count: int) -> list[Asked]:
    """Windows ending at `end` (as a tick's do) or before it, from a minute to two days long."""
    rng = random.Random(11)
    made = []
    for index in range(count):
        stop = end - timedelta(minutes=rng.choice([0, 0, 0, 7, 60, 95]))
        minutes = rng.choice([1, 15, 59, 60, 61, 360, 1440, 2880, 2 * 60 + 17])
        if index % 7 == 0:  # on the hour
            stop = stop.replace(minute=0, second=0, microsecond=0)
        made.append(
            Asked(
                rng.choice(version_ids),
                rng.choice(["production", "staging"]),
                stop - timedelta(minutes=minutes),
                stop,
            )
        )
    return made


def alone(one: Asked) -> tuple[Totals, np.ndarray]:
    scope = {"version_id": one.version_id, "environment": one.environment}
    window = Window(one.start, one.end)
    return (
        stat_totals(scope, window).get((), Totals()),
        latency_histograms(scope, window).get((), histogram.empty()),
    )


@pytest.fixture
def executions(create_template, now):
    """Three versions' executions over the last three days: most rolled up, the last ones pending."""
    versions = [create_template(name=f"Windows {index}").latest_version for index in range(3)]
    start = now - timedelta(days=3)
    store(random_reports(versions, 1500, start=start, end=now - timedelta(hours=5), seed=1))
    store(random_reports(versions, 400, start=now - timedelta(hours=7), end=now, seed=2), roll_up=False)
    return [version.pk for version in versions]


def test_many_windows__rolled_up_and_pending__each_as_the_selectors_answer_it_alone(executions, now):
    asked = windows(executions, now, 60)
    totals, latencies = totals_of(asked), latencies_of(asked)
    assert totals is not None
    assert latencies is not None
    assert any(totals[one].executions for one in asked)  # the windows hold executions
    for one in asked:
        expected_totals, expected_latencies = alone(one)
        np.testing.assert_allclose(totals[one].sums, expected_totals.sums, rtol=1e-9, atol=1e-9)
        assert latencies[one].tolist() == expected_latencies.tolist(), one


def test_many_windows__no_executions__zeros():
    asked = [
        Asked(uuid4(), "production", datetime(2026, 1, 1, 9, 30, tzinfo=UTC), datetime(2026, 1, 2, 9, 30, tzinfo=UTC))
    ]
    totals, latencies = totals_of(asked), latencies_of(asked)
    assert totals is not None
    assert latencies is not None
    assert totals[asked[0]].executions == 0
    assert int(latencies[asked[0]].sum()) == 0


def test_many_windows__empty_window__refused():
    moment = datetime(2026, 1, 1, 9, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="start before it ends"):
        totals_of([Asked(uuid4(), "production", moment, moment)])


@pytest.mark.parametrize("rolled_up", [True, False], ids=["rolled up", "pending"])
def test_many_windows__an_execution_after_the_end_in_its_hour__not_counted_the_others_are(
    create_template, now, rolled_up
):
    # Given two versions' executions around half past an hour: before it for both, after it for one only
    # (a client's clock ahead); windows ending at half past read that hour from its rollup only for the other
    version, other = (create_template(name=f"Edge {index}").latest_version for index in range(2))
    half_past = now.replace(minute=30, second=0, microsecond=0) - timedelta(hours=3)
    reports = [
        ExecutionReportFactory(
            version=each, timestamp=(half_past - timedelta(minutes=minutes)).isoformat(), responseTime=100 + minutes
        )
        for each in (version, other)
        for minutes in (1, 9, 29)
    ]
    late = ExecutionReportFactory(
        version=version, timestamp=(half_past + timedelta(minutes=10)).isoformat(), responseTime=5000
    )
    store([*reports, late], roll_up=rolled_up)
    asked = [Asked(pk, "production", half_past - timedelta(hours=2), half_past) for pk in (version.pk, other.pk)]
    totals, latencies = totals_of(asked), latencies_of(asked)
    assert totals is not None
    assert latencies is not None
    for one in asked:
        expected = [row for row in reports if row["templateVersionId"] == str(one.version_id)]
        assert totals[one].executions == len(expected) > 0
        assert int(latencies[one].sum()) == len(expected)
        assert histogram.percentile(latencies[one], 100) < 200  # not the late one's 5,000 ms
