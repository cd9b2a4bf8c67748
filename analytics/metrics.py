"""The metrics of a version and the analytics of a template, as API.md shapes them ("Executions and
performance"). Rates are percentages (0-100); times are milliseconds; percentiles are within 1%."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
from django.utils import timezone

from analytics import histogram
from analytics.aggregates import STAT_FIELDS
from analytics.forecast import forecast
from analytics.permissions import require_may_read_numbers, templates_with_numbers_for
from analytics.selectors import (
    Scope,
    Totals,
    error_summaries,
    fold,
    latency_histograms,
    raw_rows,
    stat_totals,
    window_to_read,
)
from analytics.windows import DAY, Window, floor_day, iso
from lifecycle.core.db.snapshots import one_snapshot
from lifecycle.core.roles import User
from templates_app.models import TemplateVersion
from templates_app.selectors import template_row, version_by_id, versions_of


def _iso(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None


def _summary(totals: Totals) -> dict[str, Any]:
    return {
        "executions": int(totals.executions),
        "successRate": totals.rate(totals.successes, totals.executions),
        "averageResponseTime": totals.average(totals.response_time_sum, totals.executions, 2),
        "averageCost": totals.average(totals.cost, totals.executions, 6),
        "totalCost": round(totals.cost, 6),
    }


def version_metrics(*, actor: User, version_id: UUID, window: Window, environment: str | None) -> dict[str, Any]:
    """A version's numbers in the window, for whoever may read its template's (analytics.permissions)."""
    version: TemplateVersion = version_by_id(version_id)
    require_may_read_numbers(actor, version.template)
    scope: Scope = {"version_id": version.pk}
    if environment:
        scope["environment"] = environment
    with one_snapshot():  # rollups and pending rows as one moment saw them (see analytics.services)
        read = window_to_read(scope, window)
        raw = raw_rows(scope, read)
        totals = stat_totals(scope, read, raw=raw).get((), Totals())
        latencies = latency_histograms(scope, read, raw=raw).get((), histogram.empty())
        errors = error_summaries(scope, read, raw=raw, with_samples=False)  # errorsByType: counts only
    return {
        "versionId": str(version.pk),
        "templateId": str(version.template_id),
        "version": version.number,
        "environment": environment,
        "startDate": _iso(window.start),
        "endDate": _iso(window.end),
        "totalExecutions": int(totals.executions),
        "successCount": int(totals.successes),
        "errorCount": int(totals.failures),
        "timeoutCount": int(totals.timeouts),
        "successRate": totals.rate(totals.successes, totals.executions),
        "averageResponseTime": totals.average(totals.response_time_sum, totals.executions, 2),
        "p50ResponseTime": histogram.percentile(latencies, 50),
        "p95ResponseTime": histogram.percentile(latencies, 95),
        "p99ResponseTime": histogram.percentile(latencies, 99),
        "tokenUsage": {
            "inputTokens": int(totals.input_tokens),
            "outputTokens": int(totals.output_tokens),
            "totalTokens": int(totals.total_tokens),
            "averagePerExecution": totals.average(totals.total_tokens, totals.executions, 2),
        },
        "totalCost": round(totals.cost, 6),
        "averageCost": totals.average(totals.cost, totals.executions, 6),
        "averageSatisfaction": totals.average(totals.satisfaction_sum, totals.satisfaction_count, 3),
        "conversionRate": totals.rate(totals.conversions, totals.conversion_reports),
        "errorsByType": {summary.type: summary.count for summary in errors},
    }


def template_analytics(
    *,
    actor: User,
    template_id: UUID,
    window: Window,
    environment: str | None,
    granularity: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A template's analytics in the window, for whoever may read its numbers (analytics.permissions).
    Without executions in the window: zeros, nulls and empty lists, in the same shape."""
    template = template_row(template_id)
    require_may_read_numbers(actor, template)
    versions = {version.pk: version.number for version in versions_of(template.pk)}
    scope: Scope = {"template_id": template.pk}
    if environment:
        scope["environment"] = environment
    # One pass over the rollups, grouped as finely as any part of the answer needs, folded here.
    with one_snapshot():  # rollups and pending rows as one moment saw them (see analytics.services)
        read = window_to_read(scope, window)
        raw = raw_rows(scope, read)
        grouped = stat_totals(scope, read, by=["version_id", "region"], bucket=granularity, raw=raw)
        latencies = latency_histograms(scope, read, by_version=True, bucket=granularity, raw=raw)
        errors = error_summaries(scope, read, raw=raw)
    keys = list(grouped)  # (version_id, region, bucket)
    # Its width given: an empty window has no rows to tell it (numpy cannot reshape 0 values to "-1").
    matrix = np.array([totals.sums for totals in grouped.values()], dtype=np.float64).reshape(
        len(keys), len(STAT_FIELDS)
    )
    overall = Totals(matrix.sum(axis=0))
    by_version = fold(keys, matrix, lambda key: (key[0],))
    by_region = fold(keys, matrix, lambda key: (key[1],))
    series = fold(keys, matrix, lambda key: (key[2],))
    version_series = fold(keys, matrix, lambda key: (key[0], key[2]))
    daily = fold(keys, matrix, lambda key: (key[2].replace(hour=0),))
    all_latency = histogram.empty()
    version_latency: dict[tuple, np.ndarray] = defaultdict(histogram.empty)
    series_latency: dict[tuple, np.ndarray] = defaultdict(histogram.empty)
    for (version_id, bucket), counts in latencies.items():
        all_latency += counts
        version_latency[(version_id,)] += counts
        series_latency[(bucket,)] += counts

    return {
        "templateId": str(template.pk),
        "environment": environment,
        "startDate": _iso(window.start),
        "endDate": _iso(window.end),
        "granularity": granularity,
        "totalExecutions": int(overall.executions),
        "averagePerformance": {
            "successRate": overall.rate(overall.successes, overall.executions),
            "averageResponseTime": overall.average(overall.response_time_sum, overall.executions, 2),
            "p95ResponseTime": histogram.percentile(all_latency, 95),
            "averageCost": overall.average(overall.cost, overall.executions, 6),
        },
        "byVersion": sorted(
            (
                {
                    "versionId": str(version_id),
                    "version": versions.get(version_id),
                    **_summary(totals),
                    "p95ResponseTime": histogram.percentile(version_latency.get((version_id,), histogram.empty()), 95),
                }
                for (version_id,), totals in by_version.items()
            ),
            key=lambda row: -row["executions"],
        ),
        "byRegion": sorted(
            ({"region": region or "unknown", **_summary(totals)} for (region,), totals in by_region.items()),
            key=lambda row: -row["executions"],
        ),
        "errorAnalysis": [
            {
                "type": summary.type,
                "count": summary.count,
                "share": overall.rate(summary.count, overall.executions),
                "firstSeen": _iso(summary.first_seen),
                "lastSeen": _iso(summary.last_seen),
                "sampleMessages": summary.samples,
            }
            for summary in errors
        ],
        "timeSeries": [
            {
                "start": _iso(bucket),
                "executions": int(totals.executions),
                "successRate": totals.rate(totals.successes, totals.executions),
                "p95ResponseTime": histogram.percentile(series_latency.get((bucket,), histogram.empty()), 95),
                "cost": round(totals.cost, 6),
            }
            for (bucket,), totals in sorted(series.items())
        ],
        "versionSeries": _version_series(version_series, latencies, versions),
        "forecast": forecast(_history(daily, window, now or timezone.now())),
    }


# Templates an overview answers for at once; a name filter narrows them.
OVERVIEW_LIMIT = 500


def templates_overview(
    *,
    actor: User,
    window: Window,
    granularity: str,
    environment: str | None = None,
    name_contains: str = "",
    limit: int = OVERVIEW_LIMIT,
) -> dict[str, Any]:
    """The numbers of every template the actor may read (analytics.permissions), by name, up to `limit`:
    executions, success rate, p95, cost and satisfaction in the window, and executions per bucket (a
    trend). One pass over the rollups for all of them, grouped by template, as template_analytics reads."""
    visible = templates_with_numbers_for(actor).order_by("name")
    if name_contains:
        visible = visible.filter(name__icontains=name_contains)
    listed = list(visible.values_list("pk", "name")[: limit + 1])
    shown = listed[:limit]
    ids = [template_id for template_id, _ in shown]
    scope: Scope = {"template_id__in": ids}
    if environment:
        scope["environment"] = environment
    template_of = dict(TemplateVersion.objects.filter(template_id__in=ids).values_list("pk", "template_id"))
    grouped: dict[tuple, Totals] = {}
    latencies: dict[tuple, np.ndarray] = {}
    if ids:  # none visible or matching: nothing to ask (an empty IN is no query to the driver)
        with one_snapshot():  # rollups and pending rows as one moment saw them (see analytics.services)
            read = window_to_read(scope, window)
            raw = raw_rows(scope, read)
            grouped = stat_totals(scope, read, by=["template_id"], bucket=granularity, raw=raw)
            latencies = latency_histograms(scope, read, by_version=True, raw=raw)
    keys = list(grouped)  # (template_id, bucket)
    matrix = np.array([totals.sums for totals in grouped.values()], dtype=np.float64).reshape(
        len(keys), len(STAT_FIELDS)
    )
    by_template = fold(keys, matrix, lambda key: (key[0],))
    trends: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for (template_id, bucket), totals in sorted(grouped.items(), key=lambda item: item[0][1]):
        trends[template_id].append({"start": _iso(bucket), "executions": int(totals.executions)})
    template_latency: dict[UUID, np.ndarray] = defaultdict(histogram.empty)
    for (version_id,), counts in latencies.items():
        template_latency[template_of[version_id]] += counts
    rows = []
    for template_id, name in shown:
        totals = by_template.get((template_id,), Totals())
        rows.append(
            {
                "templateId": str(template_id),
                "name": name,
                "executions": int(totals.executions),
                "successRate": totals.rate(totals.successes, totals.executions),
                "p95ResponseTime": histogram.percentile(template_latency.get(template_id, histogram.empty()), 95),
                "totalCost": round(totals.cost, 6),
                "averageSatisfaction": totals.average(totals.satisfaction_sum, totals.satisfaction_count, 3),
                "trend": trends.get(template_id, []),
            }
        )
    return {
        "environment": environment,
        "startDate": _iso(window.start),
        "endDate": _iso(window.end),
        "granularity": granularity,
        "templates": rows,
        "more": len(listed) > limit,
    }


def _point(bucket: datetime, totals: Totals, latency: np.ndarray) -> dict[str, Any]:
    return {
        "start": _iso(bucket),
        "executions": int(totals.executions),
        "successRate": totals.rate(totals.successes, totals.executions),
        "p50ResponseTime": histogram.percentile(latency, 50),
        "p95ResponseTime": histogram.percentile(latency, 95),
        "totalTokens": int(totals.total_tokens),
        "cost": round(totals.cost, 6),
    }


def _version_series(
    by_version_bucket: dict[tuple, Totals], latencies: dict[tuple, np.ndarray], versions: dict[UUID, str]
) -> list[dict[str, Any]]:
    """Each version's time series (its buckets with executions), oldest version first: the dashboard's
    charts draw one line per version."""
    points: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for (version_id, bucket), totals in sorted(by_version_bucket.items(), key=lambda item: item[0][1]):
        points[version_id].append(_point(bucket, totals, latencies.get((version_id, bucket), histogram.empty())))
    oldest_first = {version_id: position for position, version_id in enumerate(reversed(list(versions)))}
    return [
        {"versionId": str(version_id), "version": versions.get(version_id), "points": version_points}
        for version_id, version_points in sorted(
            points.items(), key=lambda item: oldest_first.get(item[0], len(oldest_first))
        )
    ]


def _history(daily: dict[tuple, Totals], window: Window, now: datetime) -> list[tuple[Any, float, float]]:
    """The daily history a forecast rests on: every day from the first with executions to the last of the
    window, or today if the window ends later, zeros where none ran. Days to come are not days without
    executions; and so the days handled are bounded by the data and now, whatever the window's end."""
    end = min(window.end, now)
    last = floor_day(end)
    if last == end:  # it ends at midnight: that day is not in it
        last -= DAY
    days = sorted(bucket for (bucket,) in daily if bucket <= last)  # not the few minutes of clock skew after now
    rows: list[tuple[Any, float, float]] = []
    day = days[0] if days else last + DAY
    while day <= last:
        totals = daily.get((day,))
        rows.append((day.date(), totals.executions if totals else 0.0, totals.cost if totals else 0.0))
        day += DAY
    return rows
