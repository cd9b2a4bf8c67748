"""What the rollups keep and how the database computes it: the sums (STAT_FIELDS, and ROW_SUMS over raw
executions) and the time buckets (TimeBucket). The roll-up (analytics.rollups) writes with them and the
queries (analytics.selectors) read with them, so both count the same way."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from django.db.models import CharField, Count, Func, Q, Sum

SAMPLE_MESSAGES = 3
# Sums kept per hour, version, environment and region (HourlyStats, DailyStats), in this order.
STAT_FIELDS = (
    "executions", "successes", "errors", "timeouts", "response_time_sum", "input_tokens", "output_tokens",
    "total_tokens", "cost", "satisfaction_sum", "satisfaction_count", "conversions", "conversion_reports",
)  # fmt: skip
# How the database computes each of STAT_FIELDS over raw executions.
ROW_SUMS = {
    "executions": Count("id"),
    "successes": Count("id", filter=Q(status="success")),
    "errors": Count("id", filter=Q(status="error")),
    "timeouts": Count("id", filter=Q(status="timeout")),
    "response_time_sum": Sum("response_time_ms"),
    "input_tokens": Sum("input_tokens"),
    "output_tokens": Sum("output_tokens"),
    "total_tokens": Sum("total_tokens"),
    "cost": Sum("cost"),
    "satisfaction_sum": Sum("user_satisfaction"),
    "satisfaction_count": Count("user_satisfaction"),
    "conversions": Count("id", filter=Q(converted=True)),
    "conversion_reports": Count("converted"),
}


class TimeBucket(Func):
    """The UTC hour ('YYYY-MM-DD HH') or day ('YYYY-MM-DD') of a datetime column, as text, computed by the
    database itself (Django's TruncDay/TruncHour are Python functions on SQLite, called once per row)."""

    output_field = CharField()

    def __init__(self, expression: Any, kind: str) -> None:
        super().__init__(expression)
        self.kind = kind

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        length = 10 if self.kind == "day" else 13  # stored as 'YYYY-MM-DD HH:MM:SS[.ffffff]'
        return self.as_sql(compiler, connection, template=f"substr(%(expressions)s, 1, {length})", **extra)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        pattern = "YYYY-MM-DD" if self.kind == "day" else "YYYY-MM-DD HH24"
        template = f"to_char(%(expressions)s AT TIME ZONE 'UTC', '{pattern}')"
        return self.as_sql(compiler, connection, template=template, **extra)


@functools.lru_cache(maxsize=8192)
def bucket_start(text: str) -> datetime:
    """The moment a TimeBucket names (remembered: an answer names the same hours and days many times)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
