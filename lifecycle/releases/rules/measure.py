"""A rule's metric over a window of one deployment's executions, read as analytics answers it
(analytics.selectors): rollups for the window's whole hours, raw executions only for its open edges (and
for batches the worker has not rolled up yet). So a measurement's cost follows the window's edges, not
the number of executions stored.

Means tested against a baseline also need a variance, which the rollups do not keep (they hold sums,
not sums of squares): it is estimated from the executions the window reads raw. A window of an hour or
less is read raw whole, so its variance is exact; a longer one estimates it from its edges, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
from django.db.models import Count, F, FloatField, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from analytics import histogram
from analytics.many_windows import Asked, latencies_of, totals_of
from analytics.models import Execution
from analytics.selectors import Totals, latency_histograms, raw_rows, stat_totals
from analytics.windows import Window
from lifecycle.releases.rules.definitions import METRICS, Kind, Metric
from lifecycle.releases.rules.statistics import Arm


@dataclass(frozen=True)
class Measurement:
    """One metric over one window: its value in the API's unit, and what a test needs."""

    metric: str
    start: datetime
    end: datetime
    executions: int
    n: int  # the metric's sample size (what minExecutions counts)
    value: float | None  # rates in %, times in ms, costs, satisfaction 1-5; None without data
    mean: float | None = None  # per unit, for tests: a rate as a proportion (0-1)
    variance: float | None = None  # per unit; None if it could not be estimated
    variance_from: int | None = None  # how many executions the variance rests on
    latencies: np.ndarray | None = field(default=None, compare=False)  # p95: the histogram

    def arm(self) -> Arm:
        assert self.mean is not None
        assert self.variance is not None
        return Arm(self.n, self.mean, self.variance)

    def to_json(self) -> dict[str, Any]:
        """What a frozen baseline keeps (the histogram is not needed: tests use the baseline's p95)."""
        return {
            "metric": self.metric,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "executions": self.executions,
            "n": self.n,
            "value": self.value,
            "mean": self.mean,
            "variance": self.variance,
            "varianceFrom": self.variance_from,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        return cls(
            metric=data["metric"],
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            executions=data["executions"],
            n=data["n"],
            value=data["value"],
            mean=data["mean"],
            variance=data["variance"],
            variance_from=data["varianceFrom"],
        )


# The column each mean metric averages, with nulls as analytics counts them (a cost not reported is 0 in
# averageCost; a satisfaction not reported is left out of averageSatisfaction).
_MEAN_COLUMNS: dict[str, Any] = {
    Metric.AVERAGE_COST: Coalesce(F("cost"), Value(0.0), output_field=FloatField()),
    Metric.AVERAGE_SATISFACTION: F("user_satisfaction"),
}


@dataclass(frozen=True)
class Ask:
    """A measurement a Reader will be asked for: read ahead, with the others, by Reader.prefetch."""

    metric: str
    version_id: UUID
    environment: str
    start: datetime
    end: datetime


class Reader:
    """Measures windows of executions, reading each (scope, window)'s raw rows once however many rules
    ask about it. Use within one read snapshot (lifecycle.core.db.snapshots.one_snapshot).

    `prefetch` reads what many measurements need in a few queries (analytics.many_windows); `measure`
    then answers those from memory, and reads anything else itself, as before."""

    def __init__(self) -> None:
        self._raw: dict[tuple[UUID, str, Window], list[QuerySet[Execution]]] = {}
        self._totals: dict[Asked, Totals] = {}
        self._latencies: dict[Asked, np.ndarray] = {}

    def prefetch(self, asks: list[Ask]) -> None:
        """Read ahead the totals and histograms that `asks` need (the same numbers `measure` reads alone)."""
        quantiles: list[Asked] = []
        others: list[Asked] = []
        for ask in asks:
            if ask.start < ask.end:
                asked = Asked(ask.version_id, ask.environment, ask.start, ask.end)
                (quantiles if METRICS[ask.metric].kind == Kind.QUANTILE else others).append(asked)
        if others:
            self._totals.update(totals_of(others) or {})
        if quantiles:
            self._latencies.update(latencies_of(quantiles) or {})

    def _raw_rows(self, version_id: UUID, environment: str, window: Window) -> list[QuerySet[Execution]]:
        key = (version_id, environment, window)
        if key not in self._raw:
            self._raw[key] = raw_rows({"version_id": version_id, "environment": environment}, window)
        return self._raw[key]

    def measure(
        self, metric: str, *, version_id: UUID, environment: str, start: datetime, end: datetime, variance: bool
    ) -> Measurement:
        """`metric` over the executions of `version_id` in `environment` in [start, end); with `variance`,
        also the per-unit variance of a mean metric."""
        window = Window(start=start, end=end)
        scope = {"version_id": version_id, "environment": environment}
        info = METRICS[metric]
        if start >= end:  # clipped away (a deployment newer than the window's end): nothing to read
            empty = histogram.empty() if info.kind == Kind.QUANTILE else None
            return Measurement(metric, start, end, 0, 0, None, latencies=empty)
        asked = Asked(version_id, environment, start, end)
        if info.kind == Kind.QUANTILE:
            counts = self._latencies.get(asked)
            if counts is None:
                raw = self._raw_rows(version_id, environment, window)
                counts = latency_histograms(scope, window, raw=raw).get((), histogram.empty())
            n = int(counts.sum())
            return Measurement(metric, start, end, n, n, histogram.percentile(counts, 95), latencies=counts)
        totals = self._totals.get(asked)
        if totals is None:
            totals = stat_totals(scope, window, raw=self._raw_rows(version_id, environment, window)).get((), Totals())
        executions = int(totals.executions)
        if info.kind == Kind.PROPORTION:
            part = totals.successes if metric == Metric.SUCCESS_RATE else totals.failures
            proportion = part / executions if executions else None
            return Measurement(
                metric,
                start,
                end,
                executions,
                executions,
                round(100 * proportion, 4) if proportion is not None else None,
                mean=proportion,
                variance=proportion * (1 - proportion) if proportion is not None else None,
                variance_from=executions,
            )
        if info.kind == Kind.TOTAL:
            return Measurement(metric, start, end, executions, executions, round(totals.cost, 6), mean=totals.cost)
        if metric == Metric.AVERAGE_COST:
            n, total = executions, totals.cost
        else:
            n, total = int(totals.satisfaction_count), totals.satisfaction_sum
        mean = total / n if n else None
        spread, spread_from = (
            _variance(self._raw_rows(version_id, environment, window), metric) if variance and n else (None, None)
        )
        return Measurement(
            metric,
            start,
            end,
            executions,
            n,
            round(mean, 6) if mean is not None else None,
            mean=mean,
            variance=spread,
            variance_from=spread_from,
        )


def _variance(raw: list[QuerySet[Execution]], metric: str) -> tuple[float | None, int]:
    """The sample variance of a mean metric over the raw rows (summed by the database), and its count."""
    column = _MEAN_COLUMNS[Metric(metric)]
    count, total, squares = 0, 0.0, 0.0
    for rows in raw:
        sums = rows.annotate(value=column).aggregate(
            count=Count("value"),  # a satisfaction not reported is null: left out, as in the average
            total=Sum("value", output_field=FloatField()),
            squares=Sum(F("value") * F("value"), output_field=FloatField()),
        )
        count += sums["count"] or 0
        total += sums["total"] or 0.0
        squares += sums["squares"] or 0.0
    if count < 2:
        return None, count
    return max(0.0, (squares - total * total / count) / (count - 1)), count
