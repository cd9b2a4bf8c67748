"""Storing executions, and folding them into the rollups.

Ingestion is the product's second hot path (a busy customer reports millions of executions a day), so a
request only writes: one INSERT ... ON CONFLICT (request_id) DO NOTHING RETURNING id (the database decides
which reports are new, also when the same request id arrives twice at the same moment) and one
PendingBatch row. A worker folds pending batches into the rollups (roll_up_pending), many at a time, so
each rollup row is written once per pass rather than once per request. Until then queries read a pending
batch's rows raw (analytics.selectors), so the numbers are exact at every moment.

Rollups are read-modified-written under row locks taken in key order, so two workers touching the same
hour never deadlock and never lose a count.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from analytics import histogram
from analytics.models import (
    DailyStats,
    Execution,
    HourlyErrors,
    HourlyStats,
    LatencyHistogram,
    PendingBatch,
    Sums,
)
from analytics.reports import ExecutionReport, ReportInvalid, read_report
from lifecycle.core.db import column_of, insert_ignoring_conflicts, one_writer_at_a_time
from lifecycle.core.exceptions import InvalidInput
from lifecycle.core.ids import uuid7
from templates_app.selectors import templates_of_versions

logger = logging.getLogger(__name__)

MAX_BATCH = 1000
SAMPLE_MESSAGES = 3
# Sums kept per hour, version, environment and region (HourlyStats), in this order.
STAT_FIELDS = (
    "executions", "successes", "errors", "timeouts", "response_time_sum", "input_tokens", "output_tokens",
    "total_tokens", "cost", "satisfaction_sum", "satisfaction_count", "conversions", "conversion_reports",
)  # fmt: skip
_REPORT_COLUMNS = [field.name for field in fields(ExecutionReport)]


@dataclass(frozen=True)
class Recorded:
    """What a batch stored: the new reports, and those whose request id was already stored."""

    created: list[ExecutionReport]
    duplicates: list[ExecutionReport]


def read_reports(raws: Sequence[Any], *, path: str = "executions") -> list[ExecutionReport]:
    """Check every report of a batch; InvalidInput names each wrong row and field (`executions[3].status`)."""
    now = timezone.now()
    reports: list[ExecutionReport] = []
    problems: dict[str, list[str]] = {}
    for index, raw in enumerate(raws):
        try:
            reports.append(read_report(raw, now))
        except ReportInvalid as exc:
            problems[f"{path}[{index}].{exc.field}".rstrip(".")] = [exc.message]
            if len(problems) >= 20:
                break
    if not problems:
        templates = templates_of_versions(report.version_id for report in reports)
        for index, report in enumerate(reports):
            if report.version_id not in templates:
                problems[f"{path}[{index}].templateVersionId"] = ["no version with this id"]
    if problems:
        raise InvalidInput.of(problems)
    return reports


def record_executions(reports: Sequence[ExecutionReport]) -> Recorded:
    """Store the reports that are new (by request id), all or nothing, as one pending batch."""
    if not reports:
        return Recorded([], [])
    with one_writer_at_a_time(), transaction.atomic():
        return _record(reports)


def _record(reports: Sequence[ExecutionReport]) -> Recorded:
    batch_id = uuid7()
    templates = templates_of_versions(report.version_id for report in reports)
    # Sorted by request id, so that two batches sharing ids wait for each other in one order, never both.
    ordered = sorted(reports, key=lambda report: report.request_id or "")
    first_of_request: dict[str, ExecutionReport] = {}
    fresh: list[ExecutionReport] = []
    repeated: list[ExecutionReport] = []
    for report in ordered:
        if report.request_id is None:
            fresh.append(report)
        elif report.request_id in first_of_request:
            repeated.append(report)  # the same request twice in one batch: stored once
        else:
            first_of_request[report.request_id] = report
            fresh.append(report)
    inserted = _insert(fresh, templates, batch_id)
    created = [report for report in fresh if report.id in inserted]
    duplicates = repeated + [report for report in fresh if report.id not in inserted]
    if created:
        PendingBatch.objects.create(id=batch_id)
    return Recorded(created, duplicates)


def _insert(reports: list[ExecutionReport], templates: dict[UUID, UUID], batch_id: UUID) -> set[UUID]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the ids of the rows that were new."""
    if not reports:
        return set()
    ops = connection.ops
    columns = [*_REPORT_COLUMNS, "template_id", "received_at", "batch_id"]
    received_at = ops.adapt_datetimefield_value(timezone.now())
    native_uuid = connection.features.has_native_uuid_field
    batch = batch_id if native_uuid else batch_id.hex
    rows: list[list[Any]] = []
    for report in reports:
        row = []
        for name in _REPORT_COLUMNS:
            value = getattr(report, name)
            if isinstance(value, UUID) and not native_uuid:
                value = value.hex
            elif name == "executed_at":
                value = ops.adapt_datetimefield_value(value)
            row.append(value)
        template_id = templates[report.version_id]
        row += [template_id if native_uuid else template_id.hex, received_at, batch]
        rows.append(row)
    inserted = insert_ignoring_conflicts(
        Execution,
        [column_of(Execution, name) for name in columns],
        rows,
        conflict_column=column_of(Execution, "request_id"),
        returning=column_of(Execution, "id"),
    )
    return {value if isinstance(value, UUID) else UUID(value) for value in inserted}


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class RolledRow(NamedTuple):
    """What the rollups need of an execution."""

    template_id: UUID
    version_id: UUID
    environment: str
    region: str
    status: str
    executed_at: datetime
    response_time_ms: float
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost: float | None
    user_satisfaction: int | None
    converted: bool | None
    error_type: str
    error_message: str


def roll_up_pending(*, max_batches: int = 50) -> int:
    """Fold up to `max_batches` pending batches into the rollups; how many executions that was.

    The batches are locked (SKIP LOCKED where the database has it), so two workers take different ones;
    they leave the pending list in the same transaction as their executions enter the rollups. A few
    batches at a time keeps the transaction short: on SQLite it holds the one write lock ingestion needs.
    """
    with one_writer_at_a_time(), transaction.atomic():
        return _roll_up(max_batches)


def _roll_up(max_batches: int) -> int:
    pending = PendingBatch.objects.select_for_update(skip_locked=True).order_by("created_at")
    batch_ids = list(pending.values_list("pk", flat=True)[:max_batches])
    if not batch_ids:
        return 0
    rows = [
        RolledRow._make(values)
        for values in Execution.objects.filter(batch_id__in=batch_ids).values_list(*RolledRow._fields)
    ]
    if rows:
        _add_to_rollups(rows)
    PendingBatch.objects.filter(pk__in=batch_ids).delete()
    return len(rows)


def _add_to_rollups(reports: Sequence[RolledRow]) -> None:
    templates = {report.version_id: report.template_id for report in reports}
    stats: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0] * len(STAT_FIELDS))
    latencies: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    errors: dict[tuple[Any, ...], list[Any]] = {}
    for report in reports:
        hour = _hour(report.executed_at)
        day = hour.replace(hour=0)
        sums = stats[(hour, report.version_id, report.environment, report.region)]
        sums[0] += 1
        sums[1 + ("success", "error", "timeout").index(report.status)] += 1
        sums[4] += report.response_time_ms
        sums[5] += report.input_tokens or 0
        sums[6] += report.output_tokens or 0
        sums[7] += report.total_tokens or 0
        sums[8] += report.cost or 0.0
        if report.user_satisfaction is not None:
            sums[9] += report.user_satisfaction
            sums[10] += 1
        if report.converted is not None:
            sums[11] += report.converted
            sums[12] += 1
        latencies[("hour", hour, report.version_id, report.environment)].append(report.response_time_ms)
        latencies[("day", day, report.version_id, report.environment)].append(report.response_time_ms)
        if report.error_type:
            key = (hour, report.version_id, report.environment, report.error_type)
            entry = errors.setdefault(key, [0, report.executed_at, report.executed_at, []])
            entry[0] += 1
            entry[1] = min(entry[1], report.executed_at)
            entry[2] = max(entry[2], report.executed_at)
            if report.error_message and report.error_message not in entry[3] and len(entry[3]) < SAMPLE_MESSAGES:
                entry[3].append(report.error_message)

    _merge_stats(HourlyStats, "hour", stats, templates)
    daily: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0] * len(STAT_FIELDS))
    for (hour, *rest), sums in stats.items():
        day_sums = daily[(hour.replace(hour=0), *rest)]
        for index, value in enumerate(sums):
            day_sums[index] += value
    _merge_stats(DailyStats, "day", daily, templates)
    _merge_latencies(latencies, templates)
    if errors:
        _merge_errors(errors, templates)


def _locked(model: Any, keys: list[tuple[Any, ...]], key_fields: Sequence[str], create: Any) -> dict[tuple, Any]:
    """The rollup rows with these keys, created if missing, locked until the transaction ends.

    Created with ON CONFLICT DO NOTHING (two batches may create the same row), then selected FOR UPDATE
    in key order (two batches lock shared rows in the same order).
    """
    keys = sorted(keys, key=lambda key: tuple(str(part) for part in key))
    model.objects.bulk_create([create(key) for key in keys], ignore_conflicts=True)
    lookup = {f"{name}__in": {key[index] for key in keys} for index, name in enumerate(key_fields)}
    rows = model.objects.select_for_update().filter(**lookup).order_by(*key_fields)
    wanted = set(keys)
    found = {tuple(getattr(row, name) for name in key_fields): row for row in rows}
    return {key: row for key, row in found.items() if key in wanted}


def _merge_stats(
    model: type[Sums], period: str, stats: dict[tuple[Any, ...], list[float]], templates: dict[UUID, UUID]
) -> None:
    """One INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n: sums need no read, whatever the keys."""
    ops, qn = connection.ops, connection.ops.quote_name
    meta = model._meta
    table = qn(meta.db_table)
    key_fields = [period, "version_id", "environment", "region"]
    columns = [*key_fields, "template_id", *STAT_FIELDS]
    native_uuid = connection.features.has_native_uuid_field
    params: list[Any] = []
    # In key order: two batches then take their row locks in one order, and never deadlock.
    for (hour, version_id, environment, region), sums in sorted(stats.items(), key=lambda item: str(item[0])):
        template_id = templates[version_id]
        params += [
            ops.adapt_datetimefield_value(hour),
            version_id if native_uuid else version_id.hex,
            environment,
            region,
            template_id if native_uuid else template_id.hex,
            *sums,
        ]
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    updates = ", ".join(f"{qn(name)} = {table}.{qn(name)} + excluded.{qn(name)}" for name in STAT_FIELDS)
    head = f"INSERT INTO {table} ({', '.join(qn(column_of(model, name)) for name in columns)}) VALUES "
    tail = f" ON CONFLICT ({', '.join(qn(column_of(model, name)) for name in key_fields)}) DO UPDATE SET {updates}"
    # At most ~10,000 parameters a statement: SQLite refuses more than 32,766.
    rows_per_statement = 10_000 // len(columns)
    with connection.cursor() as cursor:
        for offset in range(0, len(stats), rows_per_statement):
            chunk = params[offset * len(columns) : (offset + rows_per_statement) * len(columns)]
            cursor.execute(head + ", ".join([row_sql] * (len(chunk) // len(columns))) + tail, chunk)


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


def _merge_latencies(latencies: dict[tuple[Any, ...], list[float]], templates: dict[UUID, UUID]) -> None:
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
    for key, values in latencies.items():
        row = rows[key]
        counts = histogram.decode(row.counts)
        counts += histogram.of_values(values)
        row.counts = histogram.encode(counts)
    _update_by_id(LatencyHistogram, rows.values(), ["counts"])


def _merge_errors(errors: dict[tuple[Any, ...], list[Any]], templates: dict[UUID, UUID]) -> None:
    key_fields = ("hour", "version_id", "environment", "error_type")
    rows = _locked(
        HourlyErrors,
        list(errors),
        key_fields,
        lambda key: HourlyErrors(
            **dict(zip(key_fields, key, strict=True)),
            template_id=templates[key[1]],
            first_seen=errors[key][1],
            last_seen=errors[key][2],
        ),
    )
    for key, (count, first, last, samples) in errors.items():
        row = rows[key]
        row.occurrences += count
        row.first_seen = min(row.first_seen, first)
        row.last_seen = max(row.last_seen, last)
        row.samples = (row.samples + [s for s in samples if s not in row.samples])[:SAMPLE_MESSAGES]
    _update_by_id(HourlyErrors, rows.values(), ["occurrences", "first_seen", "last_seen", "samples"])


def delete_expired_executions(*, now: datetime | None = None, batch: int = 5000) -> int:
    """Delete raw executions older than EXECUTION_RETENTION_DAYS, a batch per transaction (no long lock).
    The rollups keep their sums. Returns how many rows were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EXECUTION_RETENTION_DAYS)
    # Rows of a batch not rolled up yet are kept: the rollups would never count them otherwise.
    expired = Execution.objects.filter(executed_at__lt=cutoff).exclude(batch_id__in=PendingBatch.objects.values("pk"))
    deleted = 0
    while True:
        ids = list(expired.values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        with transaction.atomic():
            deleted += Execution.objects.filter(pk__in=ids).delete()[0]
