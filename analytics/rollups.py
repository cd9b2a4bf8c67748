"""Folding pending batches of executions into the rollups: the worker's side of ingestion.

Ingestion only inserts executions and a PendingBatch row (analytics.services). A worker (analytics.tasks)
then folds many pending batches at a time into the rollups, in two steps:

1. Read, outside any write transaction: the database aggregates the batches' rows (sums per hour,
   version, environment and region; error types per hour with a few messages); only the response times
   come into Python, binned into histograms by numpy. Stored executions never change, so what is read
   stays true.
2. Write, in one short transaction: claim the batches by deleting their PendingBatch rows (if another
   worker claimed one first, the pass is given up and nothing is written), then merge the aggregates
   into the rollup rows.

On SQLite the write step holds the one write lock that ingestion also needs, so it is kept to a few
small statements; reading first is what keeps it short. Queries read a pending batch raw until the
transaction that deletes its PendingBatch row adds it to the rollups: every execution is counted once,
never both ways, never neither.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import numpy as np
from django.db import connection, transaction
from django.db.models import CharField, Count, Func, Max, Min, Q, Sum
from django.db.models.functions import Cast

from analytics import histogram
from analytics.models import DailyStats, Execution, HourlyErrors, HourlyStats, LatencyHistogram, PendingBatch, Sums
from lifecycle.core.db import column_of, one_writer_at_a_time

logger = logging.getLogger(__name__)

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


def bucket_start(text: str) -> datetime:
    """The moment a TimeBucket names."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class ErrorCounts:
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    samples: list[str]


@dataclass
class Aggregates:
    """What some pending batches add to the rollups."""

    executions: int = 0
    templates: dict[UUID, UUID] = field(default_factory=dict)  # version -> template
    hourly: dict[tuple[datetime, UUID, str, str], list[float]] = field(default_factory=dict)
    daily: dict[tuple[datetime, UUID, str, str], list[float]] = field(default_factory=dict)
    latencies: dict[tuple[str, datetime, UUID, str], np.ndarray] = field(default_factory=dict)
    errors: dict[tuple[datetime, UUID, str, str], ErrorCounts] = field(default_factory=dict)


def roll_up_pending(*, max_batches: int = 50, attempts: int = 3) -> int:
    """Fold up to `max_batches` pending batches (oldest first) into the rollups; how many executions that was
    (0: nothing pending). Safe on several workers at once: a pass whose batches another worker claimed
    first is given up and tried again on what is still pending."""
    for _ in range(attempts):
        batch_ids = list(PendingBatch.objects.order_by("created_at").values_list("pk", flat=True)[:max_batches])
        if not batch_ids:
            return 0
        aggregates = _aggregate(batch_ids)
        with one_writer_at_a_time(), transaction.atomic():
            if PendingBatch.objects.filter(pk__in=batch_ids).delete()[0] != len(batch_ids):
                transaction.set_rollback(True)  # another worker took some of them: it counts them
                continue
            _merge(aggregates)
        return aggregates.executions
    logger.info("roll-up: batches claimed by other workers %d times in a row; the next run goes on", attempts)
    return 0


def _aggregate(batch_ids: Sequence[UUID]) -> Aggregates:
    """What the batches add to the rollups, computed by the database but for the histograms' binning."""
    rows = Execution.objects.filter(batch_id__in=batch_ids)
    found = Aggregates()
    hour_of_row = TimeBucket("executed_at", "hour")
    sums: Iterable[Mapping[str, Any]] = (
        rows.values("version_id", "environment", "region", "template_id", hour=hour_of_row)
        .annotate(**ROW_SUMS)
        .order_by()
    )
    for group in sums:
        hour = bucket_start(group["hour"])
        values = [group[name] or 0 for name in STAT_FIELDS]
        found.executions += group["executions"]
        found.templates[group["version_id"]] = group["template_id"]
        found.hourly[(hour, group["version_id"], group["environment"], group["region"])] = values
        day_key = (hour.replace(hour=0), group["version_id"], group["environment"], group["region"])
        found.daily[day_key] = [a + b for a, b in zip(found.daily.get(day_key, [0] * len(values)), values, strict=True)]

    # The versions as text: a UUID made per group, not per row.
    times: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    per_row = rows.values_list(hour_of_row, Cast("version_id", CharField()), "environment", "response_time_ms")
    for hour_text, version, environment, response_time in per_row.iterator(chunk_size=5000):
        times[(hour_text, version, environment)].append(response_time)
    for (hour_text, version, environment), values in times.items():
        hour, version_id, counts = bucket_start(hour_text), UUID(version), histogram.of_values(values)
        found.latencies[("hour", hour, version_id, environment)] = counts
        day = ("day", hour.replace(hour=0), version_id, environment)
        found.latencies[day] = found.latencies[day] + counts if day in found.latencies else counts

    # One group per distinct message, in order of first appearance: the first few become the samples.
    by_message: Iterable[Mapping[str, Any]] = (
        rows.exclude(error_type="")
        .values("version_id", "environment", "error_type", "error_message", hour=hour_of_row)
        .annotate(occurrences=Count("id"), first_seen=Min("executed_at"), last_seen=Max("executed_at"))
        .order_by("first_seen")
    )
    for group in by_message:
        key = (bucket_start(group["hour"]), group["version_id"], group["environment"], group["error_type"])
        entry = found.errors.setdefault(key, ErrorCounts(0, group["first_seen"], group["last_seen"], []))
        entry.occurrences += group["occurrences"]
        entry.first_seen = min(entry.first_seen, group["first_seen"])
        entry.last_seen = max(entry.last_seen, group["last_seen"])
        if group["error_message"] and len(entry.samples) < SAMPLE_MESSAGES:
            entry.samples.append(group["error_message"])
    return found


def _merge(aggregates: Aggregates) -> None:
    """Add the aggregates to the rollup rows, each table's rows in key order (two workers never deadlock)."""
    _merge_sums(HourlyStats, "hour", aggregates.hourly, aggregates.templates)
    _merge_sums(DailyStats, "day", aggregates.daily, aggregates.templates)
    _merge_latencies(aggregates.latencies, aggregates.templates)
    if aggregates.errors:
        _merge_errors(aggregates.errors, aggregates.templates)


def _merge_sums(
    model: type[Sums], period: str, sums: dict[tuple[Any, ...], list[float]], templates: dict[UUID, UUID]
) -> None:
    """INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n: sums need no read, whatever the keys."""
    ops, qn = connection.ops, connection.ops.quote_name
    table = qn(model._meta.db_table)
    key_fields = [period, "version_id", "environment", "region"]
    columns = [*key_fields, "template_id", *STAT_FIELDS]
    native_uuid = connection.features.has_native_uuid_field
    params: list[Any] = []
    for (moment, version_id, environment, region), values in sorted(sums.items(), key=lambda item: str(item[0])):
        template_id = templates[version_id]
        params += [
            ops.adapt_datetimefield_value(moment),
            version_id if native_uuid else version_id.hex,
            environment,
            region,
            template_id if native_uuid else template_id.hex,
            *values,
        ]
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    updates = ", ".join(f"{qn(name)} = {table}.{qn(name)} + excluded.{qn(name)}" for name in STAT_FIELDS)
    head = f"INSERT INTO {table} ({', '.join(qn(column_of(model, name)) for name in columns)}) VALUES "
    tail = f" ON CONFLICT ({', '.join(qn(column_of(model, name)) for name in key_fields)}) DO UPDATE SET {updates}"
    # At most ~10,000 parameters a statement: SQLite refuses more than 32,766.
    rows_per_statement = 10_000 // len(columns)
    with connection.cursor() as cursor:
        for offset in range(0, len(sums), rows_per_statement):
            chunk = params[offset * len(columns) : (offset + rows_per_statement) * len(columns)]
            cursor.execute(head + ", ".join([row_sql] * (len(chunk) // len(columns))) + tail, chunk)


def _locked(model: Any, keys: list[tuple[Any, ...]], key_fields: Sequence[str], create: Any) -> dict[tuple, Any]:
    """The rollup rows with these keys, created if missing, locked until the transaction ends.

    Created with ON CONFLICT DO NOTHING (two workers may create the same row), then selected FOR UPDATE
    in key order (two workers lock shared rows in the same order).
    """
    keys = sorted(keys, key=lambda key: tuple(str(part) for part in key))
    model.objects.bulk_create([create(key) for key in keys], ignore_conflicts=True)
    lookup = {f"{name}__in": {key[index] for key in keys} for index, name in enumerate(key_fields)}
    rows = model.objects.select_for_update().filter(**lookup).order_by(*key_fields)
    wanted = set(keys)
    found = {tuple(getattr(row, name) for name in key_fields): row for row in rows}
    return {key: row for key, row in found.items() if key in wanted}


def _update_by_id(model: Any, rows: Iterable[Any], names: Sequence[str]) -> None:
    """UPDATE each row's `names` by its id, in one executemany (bulk_update's CASE grows with the rows)."""
    qn = connection.ops.quote_name
    meta = model._meta
    assignments = ", ".join(f"{qn(column_of(model, name))} = %s" for name in names)
    sql = f"UPDATE {qn(meta.db_table)} SET {assignments} WHERE {qn(column_of(model, 'id'))} = %s"
    params = []
    for row in rows:
        values = [meta.get_field(name).get_db_prep_value(getattr(row, name), connection) for name in names]
        params.append([*values, row.pk])
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _merge_latencies(latencies: dict[tuple[Any, ...], np.ndarray], templates: dict[UUID, UUID]) -> None:
    key_fields = ("period", "starts_at", "version_id", "environment")
    empty = histogram.encode(histogram.empty())
    rows = _locked(
        LatencyHistogram,
        list(latencies),
        key_fields,
        lambda key: LatencyHistogram(
            **dict(zip(key_fields, key, strict=True)), template_id=templates[key[2]], counts=empty
        ),
    )
    for key, counts in latencies.items():
        row = rows[key]
        row.counts = histogram.encode(histogram.decode(row.counts) + counts)
    _update_by_id(LatencyHistogram, rows.values(), ["counts"])


def _merge_errors(errors: dict[tuple[Any, ...], ErrorCounts], templates: dict[UUID, UUID]) -> None:
    key_fields = ("hour", "version_id", "environment", "error_type")
    rows = _locked(
        HourlyErrors,
        list(errors),
        key_fields,
        lambda key: HourlyErrors(
            **dict(zip(key_fields, key, strict=True)),
            template_id=templates[key[1]],
            first_seen=errors[key].first_seen,
            last_seen=errors[key].last_seen,
        ),
    )
    for key, counts in errors.items():
        row = rows[key]
        row.occurrences += counts.occurrences
        row.first_seen = min(row.first_seen, counts.first_seen)
        row.last_seen = max(row.last_seen, counts.last_seen)
        row.samples = (row.samples + [s for s in counts.samples if s not in row.samples])[:SAMPLE_MESSAGES]
    _update_by_id(HourlyErrors, rows.values(), ["occurrences", "first_seen", "last_seen", "samples"])
