"""Ingestion, roll-ups and queries stay within the connection's parameter limit, whatever the number of rows,
batches or rollup keys (SQLite's limit is set when it is built, and lowered here to reach it with few rows)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from analytics.models import HourlyErrors, HourlyStats, PendingBatch
from analytics.rollups import roll_up_pending
from analytics.services import read_reports, record_executions
from lifecycle.testing.executions import random_reports
from lifecycle.testing.factories import ExecutionReportFactory

pytestmark = pytest.mark.django_db


def metrics(api, user, version):
    response = api.as_user(user).get("/api/performance/metrics", data={"versionId": str(version.pk)})
    assert response.status_code == 200, response.json()
    return response.json()


def test_batches_pending_beyond_the_limit__answered_exactly_then_rolled_up_in_passes(
    api, analyst, create_template, now, parameter_limit, integration
):
    # Given a connection taking 40 parameters a statement, and 60 single reports, each its own pending batch
    parameter_limit(40)
    version = create_template().latest_version
    for minute in range(60):
        moment = now - timedelta(hours=3, minutes=minute)
        record_executions(
            read_reports(
                [ExecutionReportFactory(version=version, timestamp=moment.isoformat(), responseTime=10 + minute)],
                actor=integration,
            )
        )
    assert PendingBatch.objects.count() == 60
    # When the metrics are asked for while none is rolled up
    body = metrics(api, analyst, version)
    # Then they count every pending execution
    assert body["totalExecutions"] == 60
    assert body["averageResponseTime"] == pytest.approx(sum(10 + minute for minute in range(60)) / 60)
    # And the worker folds them in passes that fit the limit, each counted once
    while roll_up_pending().executions:
        pass
    assert not PendingBatch.objects.exists()
    assert sum(HourlyStats.objects.values_list("executions", flat=True)) == 60
    assert metrics(api, analyst, version)["totalExecutions"] == 60


def test_a_batch_and_its_rollup_keys_beyond_the_limit__stored_and_folded(
    create_template, now, parameter_limit, integration
):
    # Given a connection taking 100 parameters a statement: fewer than 4 reports' columns
    parameter_limit(100)
    version = create_template().latest_version
    rows = random_reports([version], 400, start=now - timedelta(days=20), end=now - timedelta(seconds=1), seed=11)
    # When 400 reports, over about 300 hours, are stored as one batch and folded in one pass
    recorded = record_executions(read_reports(rows, actor=integration))
    assert roll_up_pending().executions == 400
    # Then every report is stored and counted once, every error type in its hour
    assert len(recorded.created) == 400
    assert sum(HourlyStats.objects.values_list("executions", flat=True)) == 400
    errors = Counter(row["error"]["type"] for row in rows if "error" in row)
    folded = Counter()
    for error_type, occurrences in HourlyErrors.objects.values_list("error_type", "occurrences"):
        folded[error_type] += occurrences
    assert folded == errors
