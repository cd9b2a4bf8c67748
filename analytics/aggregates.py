"""What the rollups keep and how the database computes it: the sums (STAT_FIELDS, and ROW_SUMS over raw
executions) and the time buckets (TimeBucket). The roll-up (analytics.rollups) writes with them and the
queries (analytics.selectors) read with them, so both count the same way."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from django.db.models import CharField, Count, FloatField, Func, Q, Sum
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Cast

SAMPLE_MESSAGES = 3


def _squared(column: str) -> CombinedExpression:
    value = Cast(column, FloatField())
    return CombinedExpression(value, "*", value, output_field=FloatField())


# Sums kept per hour, version, environment and region (HourlyStats, DailyStats), in this order (ROW_SUMS's,
# which the roll-up's INSERT ... SELECT relies on; readers find a sum by its name).
STAT_FIELDS = (
    "response_time_sq", "total_tokens_sq", "cost_sq", "satisfaction_sq",
    "executions", "successes", "errors", "timeouts", "response_time_sum", "input_tokens", "output_tokens",
    "total_tokens", "cost", "satisfaction_sum", "satisfaction_count", "conversions", "conversion_reports",
)  # fmt: skip
# How the database computes each of STAT_FIELDS over raw executions.
ROW_SUMS = {
    # Sums of squares, for the variance of a mean (Welch's test in A/B results). First: a column named in an
    # expression resolves to an annotation of the same name added before it ("total_tokens", "cost" below),
    # so these must be annotated before those sums exist. Squared as floats: an integer column times
    # itself overflows PostgreSQL's integer (100,000 tokens squared).
    "response_time_sq": Sum(_squared("response_time_ms")),
    "total_tokens_sq": Sum(_squared("total_tokens")),
    "cost_sq": Sum(_squared("cost")),
    "satisfaction_sq": Sum(_squared("user_satisfaction")),
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
