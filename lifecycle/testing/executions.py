"""Executions as tests make them: varied reports over a time span, stored through the services and rolled up
as the worker would."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from analytics.rollups import roll_up_pending
from analytics.services import read_reports, record_executions
from lifecycle.testing.factories import ExecutionReportFactory, UserFactory

REGIONS = ["eu-central-1", "us-east-1", "ap-south-1", None]
ERRORS = [("RateLimit", "429 Too Many Requests"), ("Timeout", "upstream timed out"), ("BadOutput", "not JSON")]


def random_reports(versions, count: int, *, start: datetime, end: datetime, seed: int = 7) -> list[dict[str, Any]]:
    """Varied reports spread over [start, end): statuses, regions, latencies over three orders of magnitude,
    tokens, costs, satisfaction and conversion reported by some."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    rows = []
    for index in range(count):
        status = rng.choices(["success", "error", "timeout"], weights=[85, 10, 5])[0]
        input_tokens, output_tokens = rng.randint(5, 500), rng.randint(5, 1500)
        row = ExecutionReportFactory(
            version=rng.choice(versions),
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
    """Ingest the reports through the service as an integration would, in batches; then fold them into the
    rollups, as the worker would, unless `roll_up` is false (they stay pending, read raw by the queries)."""
    reporter = UserFactory(roles=["integration"])
    for offset in range(0, len(rows), 500):
        record_executions(read_reports(rows[offset : offset + 500], actor=reporter))
    if roll_up:
        while roll_up_pending().executions:
            pass
