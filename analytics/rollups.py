"""Folding pending batches of executions into the rollups: the worker's side of ingestion.

Ingestion only inserts executions and a PendingBatch row (analytics.services). A worker (analytics.tasks)
then folds many pending batches at a time into the rollups, in two steps:

1. Read, outside any write transaction: the database aggregates the batches' rows (sums per hour,
   version, environment and region; error types per hour with a few messages; and, for executions that
   name an A/B test's variant, sums per hour, test, variant and version); only the response times come
   into Python, binned into histograms by numpy. Stored executions never change, so what is read
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

import numpy as np
from django.db import connection, transaction
from django.db.models import CharField, Count, DateTimeField, Func, Max, Min
from django.db.models.functions import Cast

from analytics import histogram
from analytics.aggregates import ROW_SUMS, SAMPLE_MESSAGES, STAT_FIELDS, TimeBucket, bucket_start
from analytics.models import (
    DailyErrors,
    DailyStats,
    Execution,
    HourlyErrors,
    HourlyStats,
    LatencyHistogram,
    PendingBatch,
    Sums,
    VariantDailyStats,
    VariantHourlyStats,
    VariantLatencyHistogram,
    VariantSums,
)
from lifecycle.core.db.bulk import max_query_params
from lifecycle.core.db.lookups import column_of
from lifecycle.core.db.sqlite import one_writer_at_a_time
from lifecycle.core.db.values import as_uuid, driver_rows, driver_values

logger = logging.getLogger(__name__)


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
    latencies: dict[tuple[str, datetime, UUID, str], np.ndarray] = field(default_factory=dict)
    # (period, start, ab_test_id, variant_id, version_id, environment): executions naming a test's variant
    variant_latencies: dict[tuple[str, datetime, UUID, str, UUID, str], np.ndarray] = field(default_factory=dict)
    errors: dict[tuple[datetime, UUID, str, str], ErrorCounts] = field(default_factory=dict)
    daily_errors: dict[tuple[datetime, UUID, str, str], ErrorCounts] = field(default_factory=dict)


# A pass folds pending batches until it holds this many executions. Each pass has a fixed cost (a few
# queries, a WAL checkpoint): passes of a couple of small batches made the worker spend as much CPU per
# row as the requests that stored them, on the same cores (README, "Executions at a million rows").
PASS_EXECUTIONS = 10_000
# And at most this many batches (single reports are batches of one), as parameters of one statement (and
# never more than half of the connection's parameter limit, which leaves room for the statement's others).
PASS_BATCHES = 1_000


class Pass(NamedTuple):
    """What a roll-up pass did: how many executions it folded, and whether it left batches pending that
    were already there when it chose its own (then another pass is due at once)."""

    executions: int
    more_pending: bool


def roll_up_pending(*, max_executions: int = PASS_EXECUTIONS, max_batches: int = PASS_BATCHES) -> Pass:
    """Fold the oldest pending batches, until they hold `max_executions` executions or number `max_batches`,
    into the rollups. Safe on several workers at once: a pass whose batches another worker claimed first
    is given up and tried again (3 times) on what is still pending."""
    for _ in range(3):
        batch_ids, more_pending = _oldest_pending(max_executions, max_batches)
        if not batch_ids:
            return Pass(0, more_pending=False)
        aggregates = _aggregate(batch_ids)
        with one_writer_at_a_time(), transaction.atomic():
            if PendingBatch.objects.filter(pk__in=batch_ids).delete()[0] != len(batch_ids):
                transaction.set_rollback(True)  # another worker took some of them: it counts them
                continue
            _merge(batch_ids, aggregates)
        return Pass(aggregates.executions, more_pending)
    logger.info("roll-up: batches claimed by other workers 3 times in a row; the next run goes on")
    return Pass(0, more_pending=False)


def _oldest_pending(max_executions: int, max_batches: int) -> tuple[list[UUID], bool]:
    """The ids of the oldest pending batches, as many as hold `max_executions` executions (at least one)
    or `max_batches` of them; and whether more batches were pending."""
    batch_ids: list[UUID] = []
    held = 0
    max_batches = max(1, min(max_batches, max_query_params() // 2))
    oldest = PendingBatch.objects.order_by("created_at").values_list("pk", "executions")[: max_batches + 1]
    for batch_id, executions in oldest:
        if held >= max_executions or len(batch_ids) == max_batches:
            return batch_ids, True
        batch_ids.append(batch_id)
        held += executions
    return batch_ids, False


def _aggregate(batch_ids: Sequence[UUID]) -> Aggregates:
    """What the batches add to the rollups, computed by the database but for the histograms' binning."""
    rows = Execution.objects.filter(batch_id__in=batch_ids)
    found = Aggregates()
    hour_of_row = TimeBucket("executed_at", "hour")
    # The sums are added by the database itself in the write step (_add_sums); from here, only the
    # response times (binned into histograms), the version -> template map, and the number of rows.
    times: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    templates_as_text: dict[str, str] = {}
    per_row = rows.values_list(
        hour_of_row,
        Cast("version_id", CharField()),
        "environment",
        "response_time_ms",
        Cast("template_id", CharField()),
    )
    for hour_text, version, environment, response_time, template in driver_rows(per_row):
        found.executions += 1
        times[(hour_text, version, environment)].append(response_time)
        templates_as_text[version] = template
    found.templates = {as_uuid(version): as_uuid(template) for version, template in templates_as_text.items()}
    for (hour_text, version, environment), values in times.items():
        _add_hour_and_day(found.latencies, hour_text, (as_uuid(version), environment), values)
    # The executions that name an A/B test's variant, read again on their own: most batches hold none, and
    # every row above need not carry two more columns for the few that do.
    variant_times: dict[tuple[str, str, str, str, str], list[float]] = defaultdict(list)
    tagged = (
        rows.filter(ab_test_id__isnull=False)
        .exclude(variant_id="")
        .values_list(
            hour_of_row,
            Cast("ab_test_id", CharField()),
            "variant_id",
            Cast("version_id", CharField()),
            "environment",
            "response_time_ms",
        )
    )
    for hour_text, test, variant, version, environment, response_time in driver_rows(tagged):
        variant_times[(hour_text, test, variant, version, environment)].append(response_time)
    for (hour_text, test, variant, version, environment), values in variant_times.items():
        parts = (as_uuid(test), variant, as_uuid(version), environment)
        _add_hour_and_day(found.variant_latencies, hour_text, parts, values)

    # One group per distinct message, in order of first appearance: the first few become the samples.
    by_message: Iterable[Mapping[str, Any]] = (
        rows.exclude(error_type="")
        .values("version_id", "environment", "error_type", "error_message", hour=hour_of_row)
        .annotate(occurrences=Count("id"), first_seen=Min("executed_at"), last_seen=Max("executed_at"))
        .order_by("first_seen")
    )
    for seen in by_message:
        hour = bucket_start(seen["hour"])
        for tallies, moment in ((found.errors, hour), (found.daily_errors, hour.replace(hour=0))):
            key = (moment, seen["version_id"], seen["environment"], seen["error_type"])
            entry = tallies.setdefault(key, ErrorCounts(0, seen["first_seen"], seen["last_seen"], []))
            entry.occurrences += seen["occurrences"]
            entry.first_seen = min(entry.first_seen, seen["first_seen"])
            entry.last_seen = max(entry.last_seen, seen["last_seen"])
            message = seen["error_message"]
            if message and message not in entry.samples and len(entry.samples) < SAMPLE_MESSAGES:
                entry.samples.append(message)
    return found


def _add_hour_and_day(latencies: dict[Any, np.ndarray], hour_text: str, parts: tuple, values: list[float]) -> None:
    """The histogram of `values` (one hour's, of the key `parts`) as that hour's, and added to its day's."""
    hour, counts = bucket_start(hour_text), histogram.of_values(values)
    latencies[("hour", hour, *parts)] = counts
    day = ("day", hour.replace(hour=0), *parts)
    latencies[day] = latencies[day] + counts if day in latencies else counts


def _merge(batch_ids: Sequence[UUID], aggregates: Aggregates) -> None:
    """Add the aggregates to the rollup rows, each table's rows in key order (two workers never deadlock).
    Hand-written SQL on plain values: the ORM's per-row work was most of the time the write lock is held."""
    templates, param = aggregates.templates, driver_values()
    _add_sums(HourlyStats, "hour", batch_ids)
    _add_sums(DailyStats, "day", batch_ids)
    if aggregates.variant_latencies:  # some executions name an A/B test's variant (most batches: none)
        _add_sums(VariantHourlyStats, "hour", batch_ids)
        _add_sums(VariantDailyStats, "day", batch_ids)
    _merge_latencies(
        LatencyHistogram, ["period", "starts_at", "version_id", "environment"], aggregates.latencies, templates, param
    )
    _merge_latencies(
        VariantLatencyHistogram,
        ["period", "starts_at", "ab_test_id", "variant_id", "version_id", "environment"],
        aggregates.variant_latencies,
        templates,
        param,
    )
    for model, period, tallies in (
        (HourlyErrors, "hour", aggregates.errors),
        (DailyErrors, "day", aggregates.daily_errors),
    ):
        errors = {
            key: [entry.occurrences, param(entry.first_seen), param(entry.last_seen), _json(entry.samples)]
            for key, entry in tallies.items()
        }
        _upsert(model, [period, "version_id", "environment", "error_type"], errors, templates, _ERROR_MERGES, param)


# How a rollup column combines its stored value ({old}) with what a pass adds ({new}), by vendor.
_ERROR_MERGES = {
    "occurrences": "{old} + {new}",
    "first_seen": {"sqlite": "min({old}, {new})", "postgresql": "LEAST({old}, {new})"},
    "last_seen": {"sqlite": "max({old}, {new})", "postgresql": "GREATEST({old}, {new})"},
    # The samples first stored stay; a later pass only fills them if there were none (errors without text).
    "samples": {
        "sqlite": "CASE WHEN json_array_length({old}) = 0 THEN {new} ELSE {old} END",
        "postgresql": "CASE WHEN jsonb_array_length({old}) = 0 THEN {new} ELSE {old} END",
    },
}


class PeriodStart(Func):
    """The start of the UTC hour or day of a datetime column, in the form the database stores datetimes."""

    output_field = DateTimeField()

    def __init__(self, expression: Any, kind: str) -> None:
        super().__init__(expression)
        self.kind = kind

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Stored as text, 'YYYY-MM-DD HH:MM:SS[.ffffff]' (naive UTC)
        cut = (
            "substr(%(expressions)s, 1, 13) || ':00:00'"
            if self.kind == "hour"
            else "substr(%(expressions)s, 1, 10) || ' 00:00:00'"
        )
        return self.as_sql(compiler, connection, template=cut, **extra)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = f"date_trunc('{self.kind}', %(expressions)s AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        return self.as_sql(compiler, connection, template=template, **extra)


def _add_sums(model: type[Sums], period: str, batch_ids: Sequence[UUID]) -> None:
    """INSERT INTO the rollup SELECT the batches' sums per period, version, environment and region FROM the
    executions ... ON CONFLICT DO UPDATE SET n = n + excluded.n: the database adds them, no row comes to
    Python (on sparse traffic a pass has about one rollup row per two executions)."""
    rows = Execution.objects.filter(batch_id__in=batch_ids)
    if issubclass(model, VariantSums):
        # Only the executions that name a test's variant, per test and variant (no region).
        keys = ["ab_test_id", "variant_id", "version_id", "environment", "template_id"]
        conflict_keys = [period, "ab_test_id", "variant_id", "version_id", "environment"]
        rows = rows.filter(ab_test_id__isnull=False).exclude(variant_id="")
    else:
        keys = ["version_id", "environment", "region", "template_id"]
        conflict_keys = [period, "version_id", "environment", "region"]
    grouped = rows.values(*keys, period_start=PeriodStart("executed_at", period)).annotate(**ROW_SUMS).order_by()
    # The SELECT lists the values() fields, then the annotations in the order they were added.
    assert list(grouped.query.values_select) == keys, grouped.query.values_select
    assert list(grouped.query.annotation_select) == ["period_start", *STAT_FIELDS]
    select, params = grouped.query.sql_with_params()
    qn, table = connection.ops.quote_name, connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(qn(column_of(model, name)) for name in [*keys, period, *STAT_FIELDS])
    conflict = ", ".join(qn(column_of(model, name)) for name in conflict_keys)
    updates = ", ".join(f"{qn(name)} = {table}.{qn(name)} + excluded.{qn(name)}" for name in STAT_FIELDS)
    with connection.cursor() as cursor:
        # A sum over no reported values is NULL; the rollup holds 0. (WHERE true: SQLite's upsert grammar.)
        picked = ", ".join([*keys, "period_start", *(f"COALESCE({qn(name)}, 0)" for name in STAT_FIELDS)])
        upsert = (
            f"INSERT INTO {table} ({columns}) SELECT {picked} FROM ({select}) grouped WHERE true "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
        )
        cursor.execute(upsert, params)


def _json(samples: list[str]) -> Any:
    return HourlyErrors._meta.get_field("samples").get_db_prep_save(samples, connection)


def _upsert(
    model: type[Any],
    key_fields: list[str],
    rows: Mapping[tuple[Any, ...], Sequence[Any]],
    templates: Mapping[UUID, UUID],
    combine: Mapping[str, Any],
    param: Callable[[Any], Any],
) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET column = combine(old, new): no read, whatever the keys.
    `rows` maps a key (with version_id second) to the values of `combine`'s columns, in its order."""
    if not rows:
        return
    qn, table = connection.ops.quote_name, connection.ops.quote_name(model._meta.db_table)
    columns = [*key_fields, "template_id", *combine]
    params: list[Any] = []
    for key, values in sorted(rows.items(), key=lambda item: str(item[0])):
        params += [*map(param, key), param(templates[key[1]]), *values]
    updates = []
    for name, how in combine.items():
        sql = how if isinstance(how, str) else how[connection.vendor]
        column = qn(column_of(model, name))
        updates.append(f"{column} = " + sql.format(old=f"{table}.{column}", new=f"excluded.{column}"))
    head = f"INSERT INTO {table} ({', '.join(qn(column_of(model, name)) for name in columns)}) VALUES "
    conflict = ", ".join(qn(column_of(model, name)) for name in key_fields)
    tail = f" ON CONFLICT ({conflict}) DO UPDATE SET {', '.join(updates)}"
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    # At most ~10,000 parameters a statement, and never more than the connection takes.
    per_statement = (min(10_000, max_query_params()) // len(columns)) * len(columns)
    with connection.cursor() as cursor:
        for offset in range(0, len(params), per_statement):
            chunk = params[offset : offset + per_statement]
            cursor.execute(head + ", ".join([row_sql] * (len(chunk) // len(columns))) + tail, chunk)


def _merge_latencies(
    model: type[LatencyHistogram] | type[VariantLatencyHistogram],
    key_fields: list[str],
    latencies: Mapping[tuple[Any, ...], np.ndarray],
    templates: Mapping[UUID, UUID],
    param: Callable[[Any], Any],
) -> None:
    """Histograms add bucket by bucket, which SQL cannot do to a blob: read, add, write, under row locks.

    Rows are first created if missing (ON CONFLICT DO NOTHING: another worker may create the same one),
    then read FOR UPDATE in key order (on PostgreSQL; SQLite's one writer needs no row lock), then written.
    """
    if not latencies:
        return
    qn, table = connection.ops.quote_name, connection.ops.quote_name(model._meta.db_table)
    key_columns = [qn(column_of(model, name)) for name in key_fields]
    id_column, template_column, counts_column = (qn(column_of(model, name)) for name in ("id", "template_id", "counts"))
    version_at = key_fields.index("version_id")
    wanted = {tuple(map(param, key)): counts for key, counts in latencies.items()}
    ordered = sorted(latencies, key=lambda key: tuple(str(part) for part in key))
    empty = histogram.encode(histogram.empty())
    locking = " FOR UPDATE" if connection.features.has_select_for_update else ""
    stored: dict[tuple[Any, ...], tuple[Any, Any]] = {}
    # The SELECT below takes up to one parameter per key and key column.
    per_chunk = max(1, min(1000, max_query_params() // len(key_fields)))
    with connection.cursor() as cursor:
        for offset in range(0, len(ordered), per_chunk):
            chunk = ordered[offset : offset + per_chunk]
            placeholders = ", ".join(["%s"] * (len(key_fields) + 2))
            cursor.executemany(
                f"INSERT INTO {table} ({', '.join(key_columns)}, {template_column}, {counts_column}) "
                f"VALUES ({placeholders}) ON CONFLICT ({', '.join(key_columns)}) DO NOTHING",
                [[*map(param, key), param(templates[key[version_at]]), empty] for key in chunk],
            )
            parts = [sorted({param(key[index]) for key in chunk}, key=str) for index in range(len(key_fields))]
            where = " AND ".join(
                f"{column} IN ({', '.join(['%s'] * len(values))})"
                for column, values in zip(key_columns, parts, strict=True)
            )
            cursor.execute(
                f"SELECT {id_column}, {', '.join(key_columns)}, {counts_column} FROM {table} WHERE {where} "
                f"ORDER BY {', '.join(key_columns)}{locking}",
                [value for values in parts for value in values],
            )
            for row_id, *parts_found, counts in cursor.fetchall():
                key = tuple(map(param, parts_found))  # sqlite3 hands back naive datetimes
                if key in wanted:
                    stored[key] = (row_id, counts)
        updates = []
        for key, (row_id, counts) in stored.items():
            merged = histogram.decode(counts) + wanted[key]
            updates.append([histogram.encode(merged), row_id])
        cursor.executemany(f"UPDATE {table} SET {counts_column} = %s WHERE {id_column} = %s", updates)
