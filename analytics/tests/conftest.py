from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analytics.rollups import roll_up_pending
from analytics.services import read_reports, record_executions

REGIONS = ["eu-central-1", "us-east-1", "ap-south-1", None]
ERRORS = [("RateLimit", "429 Too Many Requests"), ("Timeout", "upstream timed out"), ("BadOutput", "not JSON")]


def report(version, **overrides: Any) -> dict[str, Any]:
    """An execution as an integration reports it (the original README's payload)."""
    body: dict[str, Any] = {
        "templateVersionId": str(version.pk),
        "userId": "user-456",
        "input": {"inquiry": "How do I reset my password?"},
        "output": "To reset your password, please...",
        "provider": "claude",
        "tokenUsage": {"inputTokens": 15, "outputTokens": 45, "totalTokens": 60, "cost": 0.002},
        "responseTime": 1200,
        "status": "success",
        "environment": "production",
        "metadata": {"userAgent": "Mozilla/5.0", "region": "eu-central-1"},
    }
    body.update(overrides)
    return body


def random_reports(versions, count: int, *, start: datetime, end: datetime, seed: int = 7) -> list[dict[str, Any]]:
    """Varied reports spread over [start, end): statuses, regions, latencies over three orders of magnitude,
    tokens, costs, satisfaction and conversion reported by some."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    rows = []
    for index in range(count):
        status = rng.choices(["success", "error", "timeout"], weights=[85, 10, 5])[0]
        input_tokens, output_tokens = rng.randint(5, 500), rng.randint(5, 1500)
        row = report(
            rng.choice(versions),
            status=status,
            responseTime=round(rng.lognormvariate(6.5, 0.9), 3),
            timestamp=(start + timedelta(seconds=rng.random() * span)).isoformat(),
            environment=rng.choice(["production", "production", "staging"]),
            tokenUsage={
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "cost": round((input_tokens + output_tokens) * 0.00001, 6),
            },
            metadata={"region": rng.choice(REGIONS), "requestId": f"req-{seed}-{index}"},
        )
        if row["metadata"]["region"] is None:
            del row["metadata"]["region"]
        if status != "success":
            error_type, message = rng.choice(ERRORS)
            row["error"] = {"type": error_type, "message": f"{message} #{rng.randint(1, 5)}"}
        if rng.random() < 0.3:
            row["userSatisfaction"] = rng.randint(1, 5)
        if rng.random() < 0.5:
            row["converted"] = rng.random() < 0.2
        rows.append(row)
    return rows


def store(rows: list[dict[str, Any]], *, roll_up: bool = True) -> None:
    """Ingest the reports through the service, in batches; then fold them into the rollups, as the worker
    would, unless `roll_up` is false (they stay pending, read raw by the queries)."""
    for offset in range(0, len(rows), 500):
        record_executions(read_reports(rows[offset : offset + 500]))
    if roll_up:
        while roll_up_pending().executions:
            pass


@pytest.fixture
def analyst(make_user):
    return make_user("analyst", username="ana")


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def parameter_limit():
    """lower(n): the SQLite connection takes at most n parameters a statement, until the test ends."""
    import sqlite3

    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's limit is fixed (65,535 parameters), far above any statement built here")
    connection.ensure_connection()
    raw = connection.connection
    original = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    yield lambda limit: raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, original)
