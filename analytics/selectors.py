"""Metrics and analytics, answered from the rollups (plus raw executions for the window's partial hours).

No query here reads a window's raw executions beyond its first and last partial hour, and none loads
rows into Python but those few: sums are summed by the database, latency histograms are merged as
arrays (analytics.histogram).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.utils import timezone

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
    VariantDailyStats,
    VariantHourlyStats,
    VariantLatencyHistogram,
)
from analytics.windows import Span, Window, ceil_hour, floor_hour
from lifecycle.core.db.bulk import max_query_params
from lifecycle.core.db.snapshots import reads_share_one_snapshot
from lifecycle.core.db.values import as_uuid, driver_rows, plain_rows

Scope = dict[str, Any]  # filters every source shares: template_id, version_id, environment


_POSITION = {name: index for index, name in enumerate(STAT_FIELDS)}


@dataclass
class Totals:
    """Sums over some executions (one number per STAT_FIELDS, each also a property of its name), from which
    every average and rate follows.

    A numpy vector: an analytics answer folds each of hundreds of rollup groups into five totals."""

    sums: np.ndarray = field(default_factory=lambda: np.zeros(len(STAT_FIELDS)))

    def _sum(self, name: str) -> float:
        return float(self.sums[_POSITION[name]])

    @property
    def executions(self) -> float:
        return self._sum("executions")

    @property
    def successes(self) -> float:
        return self._sum("successes")

    @property
    def errors(self) -> float:
        return self._sum("errors")

    @property
    def timeouts(self) -> float:
        return self._sum("timeouts")

    @property
    def response_time_sum(self) -> float:
        return self._sum("response_time_sum")

    @property
    def input_tokens(self) -> float:
        return self._sum("input_tokens")

    @property
    def output_tokens(self) -> float:
        return self._sum("output_tokens")

    @property
    def total_tokens(self) -> float:
        return self._sum("total_tokens")

    @property
    def cost(self) -> float:
        return self._sum("cost")

    @property
    def satisfaction_sum(self) -> float:
        return self._sum("satisfaction_sum")

    @property
    def satisfaction_count(self) -> float:
        return self._sum("satisfaction_count")

    @property
    def conversions(self) -> float:
        return self._sum("conversions")

    @property
    def conversion_reports(self) -> float:
        return self._sum("conversion_reports")

    @property
    def response_time_sq(self) -> float:
        return self._sum("response_time_sq")

    @property
    def total_tokens_sq(self) -> float:
        return self._sum("total_tokens_sq")

    @property
    def cost_sq(self) -> float:
        return self._sum("cost_sq")

    @property
    def satisfaction_sq(self) -> float:
        return self._sum("satisfaction_sq")

    @property
    def failures(self) -> float:
        return self.errors + self.timeouts

    def rate(self, part: float, whole: float) -> float | None:
        return round(100 * part / whole, 4) if whole else None

    def average(self, total: float, count: float, digits: int = 4) -> float | None:
        return round(total / count, digits) if count else None


def window_to_read(scope: Scope, window: Window) -> Window:
    """A window holding the same executions of the scope as `window`, cheaper to read: call it in the read's
    snapshot (one_snapshot), and read every source of one answer with what it returns.

    A window that ends now (the dashboard's, or any answer "until now") ends inside an hour, and reading that
    partial hour raw costs as much as the hour's traffic. Yet nothing of that hour comes after the end but
    what a client stamped ahead of the clock. So when no execution of the scope lies between the window's
    end and the end of its hour (one look in an index of executed_at), the window is read up to the end of
    that hour: its rollup, and that hour's pending rows, answer exactly what the raw rows did.
    """
    if not may_read_to_the_hour(window.start, window.end):
        return window
    hour_end = ceil_hour(window.end)
    if Execution.objects.filter(executed_at__gte=window.end, executed_at__lt=hour_end, **scope).exists():
        return window
    return Window(window.start, hour_end)


def may_read_to_the_hour(start: datetime | None, end: datetime) -> bool:
    """Whether reading [start, end) to the end of end's hour may pay and the raw executions can tell if it
    holds the same: the window ends inside an hour and does not lie within that hour (else it is read raw
    either way), that hour's raw rows are kept still (retention deletes older ones, whose rollups stay),
    and the reads share the look's snapshot (lifecycle.core.db.snapshots.reads_share_one_snapshot; else an
    execution committed in between, after the end, would be counted)."""
    hour = floor_hour(end)
    if hour == end or (start is not None and start > hour):
        return False
    kept_since = timezone.now() - timedelta(days=settings.EXECUTION_RETENTION_DAYS)
    return hour >= kept_since and reads_share_one_snapshot()


def raw_rows(scope: Scope, window: Window) -> list[QuerySet[Execution]]:
    """The executions a window reads raw: those in its partial first and last hours, and those in its whole
    hours that the rollups do not hold yet (their batch is pending). Few, whatever the window's length.
    An answer lists them once and hands them to each selector (`raw`), so it reads the pending list once.

    A queryset per edge and one for the pending rows, each served by its own index (version or template and
    time for an edge, batch for the pending rows): with OR between them, SQLite reads every execution of the
    scope (an OR of the two edges' ranges, under a scope of several versions, uses the index for the version
    alone: 44 ms instead of 1 at half a million executions, bench/abtesting.py).
    """
    sets = [Execution.objects.filter(_within("executed_at", [span]), **scope) for span in window.raw_spans]
    # Listed up to a limit: with no worker running, pending batches pile up (single reports are batches of
    # one), and each listed id is a parameter of every query, which the connection caps (max_query_params).
    # Beyond it, each query reads them itself.
    most = min(1_000, max_query_params() // 2)
    listed = list(PendingBatch.objects.values_list("pk", flat=True)[: most + 1])
    pending: list[Any] | QuerySet[Any] = listed if len(listed) <= most else PendingBatch.objects.values("pk")
    if listed and window.whole_hours is not None:
        sets.append(
            Execution.objects.filter(_within("executed_at", [window.whole_hours]), batch_id__in=pending, **scope)
        )
    return sets


def stat_totals(
    scope: Scope,
    window: Window,
    by: Iterable[str] = (),
    bucket: str | None = None,
    raw: list[QuerySet[Execution]] | None = None,
) -> dict[tuple, Totals]:
    """Totals for the window, grouped by the columns `by` (version_id, region) and, if asked, by the hour or
    day each falls in (the bucket's start, last in each key)."""
    # The bucket as text, cut by the database: cheaper to read back than a datetime (psycopg parses each
    # timestamptz in Python), and it also folds hourly rows into days.
    group = [*by, "bucket"] if bucket else list(by)
    sources_rows: list[tuple[QuerySet[Any], dict[str, Any]]] = []
    for period, spans in _periods(window, bucket):
        model = DailyStats if period == "day" else HourlyStats
        rows = model.objects.filter(_within(period, spans), **scope)
        if bucket:
            rows = rows.annotate(bucket=TimeBucket(period, bucket))
        sources_rows.append((rows, {name: Sum(name) for name in STAT_FIELDS}))
    for rows_read_raw in raw_rows(scope, window) if raw is None else raw:
        if bucket:
            rows_read_raw = rows_read_raw.annotate(bucket=TimeBucket("executed_at", bucket))
        sources_rows.append((rows_read_raw, ROW_SUMS))
    return _summed(sources_rows, group)


def _summed(sources_rows: list[tuple[QuerySet[Any], dict[str, Any]]], group: list[str]) -> dict[tuple, Totals]:
    """The sums of every source (rollup rows or raw executions, each with how it sums STAT_FIELDS), grouped
    by the `group` columns, added up by key."""
    # Every row of every source into one matrix, summed by key at once (fold). Driver values: Django's
    # converters cost more than the query.
    keys: list[tuple] = []
    vectors: list[Sequence[Any]] = []
    width = len(group)
    for rows, sums in sources_rows:
        if not group:  # values() of no field would mean every field (a group per row): one row of sums
            summed = rows.aggregate(**sums)
            keys.append(())
            vectors.append([summed[name] for name in STAT_FIELDS])
            continue
        grouped = rows.values(*group).annotate(**sums).order_by().values_list(*group, *STAT_FIELDS)
        for row in driver_rows(grouped):
            keys.append(tuple(_plain_key_part(name, value) for name, value in zip(group, row[:width], strict=True)))
            vectors.append(row[width:])
    # None (a sum over no reported values) is NaN in a float array: 0.
    return fold(keys, np.nan_to_num(np.array(vectors, dtype=np.float64))) if vectors else {}


@dataclass(frozen=True)
class TaggedNumbers:
    """What the executions that name an A/B test's variant (`abTestId` and a non-empty `variantId`) add up
    to in a window of one environment: the test's own by variantId, and those of some versions (naming any
    test's variant) by version. A/B results count a variant's executions by variantId, else by version:
    the version's sums less its tagged ones are the executions of it that name no variant."""

    of_test: dict[str, Totals]
    of_test_latencies: dict[str, np.ndarray]
    of_versions: dict[Any, Totals]
    of_versions_latencies: dict[Any, np.ndarray]


def tagged_numbers(window: Window, *, test_id: Any, version_ids: Sequence[Any], environment: str) -> TaggedNumbers:
    """TaggedNumbers for the window, exact as the other answers: the variant rollups (VariantDailyStats,
    VariantHourlyStats, VariantLatencyHistogram) for its whole days and hours, raw executions for its edges
    and pending batches."""
    tagged = Q(ab_test_id__isnull=False) & ~Q(variant_id="")
    answers: list[tuple[dict[Any, Totals], dict[Any, np.ndarray]]] = []
    for column, scope in (
        ("variant_id", {"ab_test_id": test_id, "environment": environment}),
        ("version_id", {"version_id__in": list(version_ids), "environment": environment}),
    ):
        raw = [rows.filter(tagged) for rows in raw_rows(scope, window)]
        sources: list[tuple[QuerySet[Any], dict[str, Any]]] = []
        latencies: dict[Any, np.ndarray] = defaultdict(histogram.empty)
        for period, spans in _periods(window):
            model = VariantDailyStats if period == "day" else VariantHourlyStats
            sources.append(
                (model.objects.filter(_within(period, spans), **scope), {name: Sum(name) for name in STAT_FIELDS})
            )
            stored = VariantLatencyHistogram.objects.filter(_within("starts_at", spans), period=period, **scope)
            for row in plain_rows(stored.values(column, "counts")):
                histogram.add_encoded(latencies[_plain_key_part(column, row[column])], row["counts"])
        sources += [(rows, ROW_SUMS) for rows in raw]
        totals = {key: summed for (key,), summed in _summed(sources, [column]).items()}
        values: dict[Any, list[float]] = defaultdict(list)
        for rows in raw:
            for key, response_time in driver_rows(rows.values_list(column, "response_time_ms")):
                values[_plain_key_part(column, key)].append(response_time)
        for key, times in values.items():
            latencies[key] += histogram.of_values(times)
        answers.append((totals, dict(latencies)))
    (of_test, of_test_latencies), (of_versions, of_versions_latencies) = answers
    return TaggedNumbers(of_test, of_test_latencies, of_versions, of_versions_latencies)


def fold(
    keys: Sequence[tuple], matrix: np.ndarray, part: Callable[[tuple], tuple] | None = None
) -> dict[tuple, Totals]:
    """The rows of `matrix` (one per key, STAT_FIELDS wide) summed by key, or by part(key): one numpy
    addition over hundreds of groups rather than one small array per row."""
    index: dict[tuple, int] = {}
    positions = [index.setdefault(part(key) if part else key, len(index)) for key in keys]
    sums = np.zeros((len(index), len(STAT_FIELDS)))
    np.add.at(sums, positions, matrix)
    return {key: Totals(sums[position]) for key, position in index.items()}


def _periods(window: Window, bucket: str | None = None) -> list[tuple[str, list[Span]]]:
    """The rollup periods a window reads, each with its spans: ("day", whole days), then ("hour", the
    hours around them). By the hour, only hourly rollups (days cannot be cut into hours)."""
    day_span, hour_spans = window.day_and_hour_spans()
    if bucket == "hour" and window.whole_hours is not None:
        day_span, hour_spans = None, [window.whole_hours]
    periods: list[tuple[str, list[Span]]] = [("day", [day_span])] if day_span is not None else []
    if hour_spans:
        periods.append(("hour", hour_spans))
    return periods


def _plain_key_part(name: str, value: Any) -> Any:
    """A grouping column's driver value as the rest of the code knows it."""
    if name in ("version_id", "template_id"):
        return as_uuid(value)
    if name == "bucket":
        return bucket_start(value)
    return value


def _within(column: str, spans: Iterable[tuple[datetime | None, datetime]]) -> Q:
    """Rows whose `column` falls in any of the [start, end) spans (start None: no lower bound)."""
    condition = Q()
    for start, end in spans:
        span = Q(**{f"{column}__lt": end})
        if start is not None:
            span &= Q(**{f"{column}__gte": start})
        condition |= span
    return condition


def latency_histograms(
    scope: Scope,
    window: Window,
    by_version: bool = False,
    bucket: str | None = None,
    raw: list[QuerySet[Execution]] | None = None,
) -> dict[tuple, np.ndarray]:
    """Merged response-time histograms for the window, per version and/or time bucket if asked."""
    merged: dict[tuple, np.ndarray] = defaultdict(histogram.empty)

    for period, spans in _periods(window, bucket):
        rows = LatencyHistogram.objects.filter(_within("starts_at", spans), **scope, period=period)
        if bucket:
            rows = rows.annotate(bucket_text=TimeBucket("starts_at", bucket))  # text: see stat_totals
            for row in plain_rows(rows.values("version_id", "bucket_text", "counts")):
                parts = (as_uuid(row["version_id"]),) if by_version else ()
                histogram.add_encoded(merged[(*parts, bucket_start(row["bucket_text"]))], row["counts"])
        else:
            for row in plain_rows(rows.values("version_id", "counts")):
                histogram.add_encoded(merged[(as_uuid(row["version_id"]),) if by_version else ()], row["counts"])
    values: dict[tuple, list[float]] = defaultdict(list)
    for rows_read_raw in raw_rows(scope, window) if raw is None else raw:
        # The bucket cut by the database, as text (see stat_totals), and driver values: the window's edges
        # hold hundreds of rows, and parsing each one's timestamp cost more than the query.
        fields = ["version_id", "response_time_ms"]
        if bucket:
            rows_read_raw = rows_read_raw.annotate(bucket=TimeBucket("executed_at", bucket))
            fields.append("bucket")
        for version_id, response_time, *bucket_text in driver_rows(rows_read_raw.values_list(*fields)):
            key: tuple[Any, ...] = (as_uuid(version_id),) if by_version else ()
            if bucket_text:
                key += (bucket_start(bucket_text[0]),)
            values[key].append(response_time)
    for parts, times in values.items():
        merged[parts] += histogram.of_values(times)
    return merged


@dataclass(frozen=True)
class ErrorSummary:
    type: str
    count: int
    first_seen: datetime
    last_seen: datetime
    samples: list[str]


def error_summaries(
    scope: Scope, window: Window, raw: list[QuerySet[Execution]] | None = None, *, with_samples: bool = True
) -> list[ErrorSummary]:
    """Each error type in the window: how many, first and last seen, a few messages; most frequent first.

    Messages are looked for in the whole days first, then the edge hours, then the raw rows, and only while
    some type has none yet: each look is a query, and the days usually hold some for every type."""
    found: dict[str, dict[str, Any]] = {}

    def note(error_type: str, count: int, first: datetime, last: datetime) -> None:
        entry = found.setdefault(error_type, {"count": 0, "first": first, "last": last, "samples": []})
        entry["count"] += count
        entry["first"], entry["last"] = min(entry["first"], first), max(entry["last"], last)

    def keep(error_type: str, samples: Iterable[str]) -> None:
        kept = found[error_type]["samples"]
        for sample in samples:
            if sample and sample not in kept and len(kept) < SAMPLE_MESSAGES:
                kept.append(sample)

    rollup_rows = []
    for column, spans in _periods(window):
        model = DailyErrors if column == "day" else HourlyErrors
        rows = model.objects.filter(_within(column, spans), **scope)
        summed = rows.values("error_type").annotate(
            count=Sum("occurrences"), first=Min("first_seen"), last=Max("last_seen")
        )
        for row in summed.order_by():
            note(row["error_type"], row["count"], row["first"], row["last"])
        rollup_rows.append((rows, column))
    failed_raw = []
    for all_raw in raw_rows(scope, window) if raw is None else raw:
        failed = all_raw.exclude(error_type="")
        counted = failed.values("error_type").annotate(
            count=Count("id"), first=Min("executed_at"), last=Max("executed_at")
        )
        for row in counted.order_by():
            note(row["error_type"], row["count"], row["first"], row["last"])
        failed_raw.append(failed)

    def without_samples() -> list[str]:
        return [error_type for error_type, entry in found.items() if not entry["samples"]] if with_samples else []

    for rows, column in rollup_rows:
        if lacking := without_samples():
            for error_type, kept in (
                rows.filter(error_type__in=lacking).order_by(column).values_list("error_type", "samples")[:200]
            ):
                keep(error_type, kept)
    for failed in failed_raw:
        if lacking := without_samples():
            messages = failed.filter(error_type__in=lacking).exclude(error_message="")
            for error_type, message in messages.values_list("error_type", "error_message")[:200]:
                keep(error_type, [message])
    summaries = [
        ErrorSummary(error_type, entry["count"], entry["first"], entry["last"], entry["samples"])
        for error_type, entry in found.items()
        if entry["count"]
    ]
    return sorted(summaries, key=lambda summary: (-summary.count, summary.type))
