"""Totals and latency histograms of many windows at once: for the rule engine, which asks, every tick, about
one window of each of a thousand deployments.

Each answer is the one analytics.selectors gives for the same (version, environment, window) alone: the
rollups for the window's whole hours, the raw executions of its edges, and the raw executions of whole hours
whose batch is not rolled up yet. Only the number of queries differs: one for all the whole hours (hourly
rollups, summed per hour by the database), and one per distinct edge span (windows that end at the same
moment share their last edge; those of the same length, their first) instead of a few per window. So a
tick's reading costs a handful of queries whatever the number of rules, and its rows follow the windows'
hours and edges, not the number of executions stored. A window ending now reads its last hour from the
rollup, as analytics.selectors.window_to_read explains: only its first edge is read raw.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
from django.db.models import Sum

from analytics import histogram
from analytics.aggregates import ROW_SUMS, STAT_FIELDS, TimeBucket, bucket_start
from analytics.models import Execution, HourlyStats, LatencyHistogram, PendingBatch
from analytics.selectors import Totals, may_read_to_the_hour
from analytics.windows import Span, Window, ceil_hour
from lifecycle.core.db.bulk import max_query_params
from lifecycle.core.db.values import as_uuid, driver_rows

# Versions per query: each is a parameter, and the connection caps them (with room for the rest).
_VERSIONS_PER_QUERY = 500


@dataclass(frozen=True)
class Asked:
    """One window of one version's executions in one environment: [start, end), start before end."""

    version_id: UUID
    environment: str
    start: datetime
    end: datetime


Series = tuple[UUID, str]  # (version, environment)


def totals_of(asked: Iterable[Asked]) -> dict[Asked, Totals] | None:
    """Totals of each window, as analytics.selectors.stat_totals answers them one by one; None when the
    worker has fallen so far behind that the pending batches cannot be listed (the caller then asks alone)."""
    windows = _distinct(asked)
    pending = _pending_batches()
    if pending is None:
        return None
    read = _as_read(windows)
    to_read = list(dict.fromkeys(read.values()))
    hourly = _HourlySums(to_read, pending)
    edges = _edge_sums(to_read)
    answers: dict[Asked, Totals] = {}
    for one in windows:
        window = read[one]
        vector = hourly.between(window)
        for span in Window(window.start, window.end).raw_spans:
            row = edges.get((span, window.version_id, window.environment))
            if row is not None:
                vector = vector + row
        answers[one] = Totals(vector)
    return answers


def latencies_of(asked: Iterable[Asked]) -> dict[Asked, np.ndarray] | None:
    """Each window's response-time histogram, as analytics.selectors.latency_histograms answers it alone;
    None as for totals_of."""
    windows = _distinct(asked)
    pending = _pending_batches()
    if pending is None:
        return None
    read = _as_read(windows)
    to_read = list(dict.fromkeys(read.values()))
    hourly = _HourlyHistograms(to_read, pending)
    edges = _edge_times(to_read)
    answers: dict[Asked, np.ndarray] = {}
    for one in windows:
        window = read[one]
        counts = hourly.between(window)
        times = [
            value
            for span in Window(window.start, window.end).raw_spans
            for value in edges.get((span, window.version_id, window.environment), ())
        ]
        if times:
            counts = counts + histogram.of_values(times)
        answers[one] = counts
    return answers


def _distinct(asked: Iterable[Asked]) -> list[Asked]:
    windows = list(dict.fromkeys(asked))
    if any(one.start >= one.end for one in windows):
        raise ValueError("every window must start before it ends")
    return windows


def _as_read(windows: Sequence[Asked]) -> dict[Asked, Asked]:
    """Each window as it is read: up to the end of its last hour when no execution of its version and
    environment lies after its end in that hour (analytics.selectors.window_to_read, for many windows: one
    query per distinct end, and a tick's windows all end at the tick)."""
    read = {one: one for one in windows}
    ending: dict[datetime, list[Asked]] = defaultdict(list)
    for one in windows:
        if may_read_to_the_hour(one.start, one.end):
            ending[one.end].append(one)
    for end, these in ending.items():
        hour_end = ceil_hour(end)
        later: set[Series] = set()
        for versions in _version_chunks(these):
            found = (
                Execution.objects.filter(version_id__in=versions, executed_at__gte=end, executed_at__lt=hour_end)
                .values_list("version_id", "environment")
                .distinct()
            )
            later.update((as_uuid(version_id), environment) for version_id, environment in driver_rows(found))
        for one in these:
            if (one.version_id, one.environment) not in later:
                read[one] = Asked(one.version_id, one.environment, one.start, hour_end)
    return read


def _pending_batches() -> list[Any] | None:
    """The batches not rolled up yet (their executions are read raw in whole hours too); None when too many
    to list as parameters (analytics.selectors.raw_rows then reads them per query)."""
    most = min(1_000, max_query_params() // 4)
    listed = list(PendingBatch.objects.values_list("pk", flat=True)[: most + 1])
    return listed if len(listed) <= most else None


def _whole_hours(windows: Sequence[Asked]) -> tuple[dict[Asked, Span], datetime | None, datetime | None]:
    """Each window's whole hours (those with any), and the earliest and latest hour among them."""
    spans: dict[Asked, Span] = {}
    firsts, lasts = [], []
    for one in windows:
        hours = Window(one.start, one.end).whole_hours
        if hours is not None and hours[0] is not None:
            spans[one] = hours
            firsts.append(hours[0])
            lasts.append(hours[1])
    if not spans:
        return spans, None, None
    return spans, min(firsts), max(lasts)


def _version_chunks(windows: Iterable[Asked]) -> Iterator[list[UUID]]:
    versions = sorted({one.version_id for one in windows})
    for index in range(0, len(versions), _VERSIONS_PER_QUERY):
        yield versions[index : index + _VERSIONS_PER_QUERY]


class _ByHour:
    """Per (version, environment): hours in order and the running sums of a per-hour value (a stats vector or
    a histogram), so that any run of whole hours sums with two look-ups."""

    def __init__(self, rows: dict[Series, dict[datetime, np.ndarray]], width: int) -> None:
        self.width = width
        self.series: dict[Series, tuple[np.ndarray, np.ndarray]] = {}
        for key, by_hour in rows.items():
            hours = sorted(by_hour)
            stamps = np.array([hour.timestamp() for hour in hours])
            running = np.zeros((len(hours) + 1, width))
            running[1:] = np.cumsum(np.array([by_hour[hour] for hour in hours]), axis=0)
            self.series[key] = (stamps, running)

    def sum(self, key: Series, span: Span | None) -> np.ndarray:
        found = self.series.get(key)
        if found is None or span is None:
            return np.zeros(self.width)
        stamps, running = found
        first, last = span
        assert first is not None
        low = int(np.searchsorted(stamps, first.timestamp(), side="left"))
        high = int(np.searchsorted(stamps, last.timestamp(), side="left"))
        return running[high] - running[low]


class _HourlySums:
    """The whole hours' stats of every window: hourly rollups plus pending executions, by hour."""

    def __init__(self, windows: Sequence[Asked], pending: list[Any]) -> None:
        self.spans, first, last = _whole_hours(windows)
        rows: dict[Series, dict[datetime, np.ndarray]] = defaultdict(dict)
        if first is not None and last is not None:
            wanted = [one for one in windows if one in self.spans]
            sums = {name: Sum(name) for name in STAT_FIELDS}
            for versions in _version_chunks(wanted):
                rolled = (
                    HourlyStats.objects.filter(version_id__in=versions, hour__gte=first, hour__lt=last)
                    .annotate(bucket=TimeBucket("hour", "hour"))
                    .values("version_id", "environment", "bucket")
                    .annotate(**sums)
                    .order_by()
                    .values_list("version_id", "environment", "bucket", *STAT_FIELDS)
                )
                _add_rows(rows, driver_rows(rolled))
                if pending:
                    raw = (
                        Execution.objects.filter(
                            version_id__in=versions, batch_id__in=pending, executed_at__gte=first, executed_at__lt=last
                        )
                        .annotate(bucket=TimeBucket("executed_at", "hour"))
                        .values("version_id", "environment", "bucket")
                        .annotate(**ROW_SUMS)
                        .order_by()
                        .values_list("version_id", "environment", "bucket", *STAT_FIELDS)
                    )
                    _add_rows(rows, driver_rows(raw))
        self.by_hour = _ByHour(rows, len(STAT_FIELDS))

    def between(self, one: Asked) -> np.ndarray:
        return self.by_hour.sum((one.version_id, one.environment), self.spans.get(one))


def _add_rows(rows: dict[Series, dict[datetime, np.ndarray]], found: Iterable[Sequence[Any]]) -> None:
    for version_id, environment, bucket, *values in found:
        key, hour = (as_uuid(version_id), environment), bucket_start(bucket)
        vector = np.nan_to_num(np.array(values, dtype=np.float64))
        by_hour = rows[key]
        by_hour[hour] = by_hour[hour] + vector if hour in by_hour else vector


def _edges(windows: Sequence[Asked]) -> dict[tuple[datetime, datetime], list[Asked]]:
    """Each distinct raw span (a window's partial first or last hour, or a whole short window), with the
    windows that read it."""
    by_span: dict[tuple[datetime, datetime], list[Asked]] = defaultdict(list)
    for one in windows:
        for span in Window(one.start, one.end).raw_spans:
            by_span[span].append(one)
    return by_span


def _edge_sums(windows: Sequence[Asked]) -> dict[tuple[Span, UUID, str], np.ndarray]:
    """The stats of the raw executions of each edge span, per version and environment: one query a span."""
    found: dict[tuple[Span, UUID, str], np.ndarray] = {}
    for span, readers in _edges(windows).items():
        start, end = span
        for versions in _version_chunks(readers):
            rows = (
                Execution.objects.filter(version_id__in=versions, executed_at__gte=start, executed_at__lt=end)
                .values("version_id", "environment")
                .annotate(**ROW_SUMS)
                .order_by()
                .values_list("version_id", "environment", *STAT_FIELDS)
            )
            for version_id, environment, *values in driver_rows(rows):
                found[(span, as_uuid(version_id), environment)] = np.nan_to_num(np.array(values, dtype=np.float64))
    return found


class _HourlyHistograms:
    """The whole hours' latency histograms of every window: hourly rollups plus pending executions."""

    def __init__(self, windows: Sequence[Asked], pending: list[Any]) -> None:
        self.spans, first, last = _whole_hours(windows)
        rows: dict[Series, dict[datetime, np.ndarray]] = defaultdict(dict)
        if first is not None and last is not None:
            wanted = [one for one in windows if one in self.spans]
            for versions in _version_chunks(wanted):
                rolled = (
                    LatencyHistogram.objects.filter(
                        period="hour", version_id__in=versions, starts_at__gte=first, starts_at__lt=last
                    )
                    .annotate(bucket=TimeBucket("starts_at", "hour"))
                    .values_list("version_id", "environment", "bucket", "counts")
                )
                for version_id, environment, bucket, counts in driver_rows(rolled):
                    by_hour = rows[(as_uuid(version_id), environment)]
                    hour = bucket_start(bucket)
                    histogram.add_encoded(by_hour.setdefault(hour, histogram.empty()), counts)
                if pending:
                    raw = (
                        Execution.objects.filter(
                            version_id__in=versions, batch_id__in=pending, executed_at__gte=first, executed_at__lt=last
                        )
                        .annotate(bucket=TimeBucket("executed_at", "hour"))
                        .values_list("version_id", "environment", "bucket", "response_time_ms")
                    )
                    times: dict[tuple[Series, datetime], list[float]] = defaultdict(list)
                    for version_id, environment, bucket, response_time in driver_rows(raw):
                        times[((as_uuid(version_id), environment), bucket_start(bucket))].append(response_time)
                    for (key, hour), values in times.items():
                        by_hour = rows[key]
                        by_hour[hour] = by_hour.get(hour, histogram.empty()) + histogram.of_values(values)
        self.by_hour = _ByHour(rows, len(histogram.empty()))

    def between(self, one: Asked) -> np.ndarray:
        counts = self.by_hour.sum((one.version_id, one.environment), self.spans.get(one))
        return np.rint(counts).astype(histogram.empty().dtype)


def _edge_times(windows: Sequence[Asked]) -> dict[tuple[Span, UUID, str], list[float]]:
    """The response times of the raw executions of each edge span, per version and environment."""
    found: dict[tuple[Span, UUID, str], list[float]] = defaultdict(list)
    for span, readers in _edges(windows).items():
        start, end = span
        for versions in _version_chunks(readers):
            rows = Execution.objects.filter(
                version_id__in=versions, executed_at__gte=start, executed_at__lt=end
            ).values_list("version_id", "environment", "response_time_ms")
            for version_id, environment, response_time in driver_rows(rows):
                found[(span, as_uuid(version_id), environment)].append(response_time)
    return found
