"""Analytics' metrics as an operator scrapes them: executions ingested, and how far the rollups are behind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY

from analytics.models import PendingBatch
from analytics.rollups import roll_up_pending
from lifecycle.testing.factories import ExecutionReportFactory

pytestmark = pytest.mark.django_db


def ingested(outcome: str) -> float:
    return REGISTRY.get_sample_value("lifecycle_executions_ingested_total", {"outcome": outcome}) or 0.0


def scraped(name: str) -> float:
    """A sample's value as /metrics reports it (this process's counters and the scrape-time gauges)."""
    for line in Client().get("/metrics").content.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def test_ingestion__batch_posted__stored_rows_counted_by_its_size(
    api, integration, version, django_capture_on_commit_callbacks
):
    # Given the counters as they are
    stored, duplicates = ingested("stored"), ingested("duplicate")
    rows = [ExecutionReportFactory(version=version, metadata={"requestId": f"r{n}"}) for n in range(5)]
    # When a batch of 5 reports is stored, then 2 of them again
    with django_capture_on_commit_callbacks(execute=True):
        assert api.as_user(integration).post("/api/executions/batch", {"executions": rows}).status_code == 201
        assert api.as_user(integration).post("/api/executions/batch", {"executions": rows[:2]}).status_code == 201
    # Then 5 rows count as stored and 2 as duplicates
    assert ingested("stored") - stored == 5
    assert ingested("duplicate") - duplicates == 2


def test_ingestion__refused_batch__counts_nothing(api, integration, version, django_capture_on_commit_callbacks):
    stored = ingested("stored")
    rows = [ExecutionReportFactory(version=version), {"status": "nonsense"}]
    with django_capture_on_commit_callbacks(execute=True):
        assert api.as_user(integration).post("/api/executions/batch", {"executions": rows}).status_code == 400
    assert ingested("stored") == stored


def test_rollup_lag__a_batch_waits__its_age_then_zero_once_rolled_up(api, integration, version):
    # Given nothing pending: no lag
    assert scraped("lifecycle_rollup_lag_seconds") == 0.0
    # When a batch has waited for 90 s
    api.as_user(integration).post("/api/executions/batch", {"executions": [ExecutionReportFactory(version=version)]})
    PendingBatch.objects.update(created_at=timezone.now() - timedelta(seconds=90))
    # Then the lag is its age, and its execution waits
    assert 90 <= scraped("lifecycle_rollup_lag_seconds") < 120
    assert scraped("lifecycle_rollup_pending_executions") == 1
    # And once the worker has rolled it up, nothing is behind
    roll_up_pending()
    assert scraped("lifecycle_rollup_lag_seconds") == 0.0
    assert scraped("lifecycle_rollup_pending_executions") == 0
