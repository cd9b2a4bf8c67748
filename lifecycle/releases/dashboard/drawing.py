"""Presentation helpers of the dashboard's pages: how a number is drawn, never what it is (the numbers are
the API's, from analytics.metrics)."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from analytics.windows import DAY, HOUR, Window, floor_day, floor_hour, iso

SPARK_WIDTH, SPARK_HEIGHT = 120, 28


def _buckets(window: Window, granularity: str) -> list[datetime]:
    assert window.start is not None
    step: timedelta = HOUR if granularity == "hour" else DAY
    moment = floor_hour(window.start) if granularity == "hour" else floor_day(window.start)
    buckets = []
    while moment < window.end:
        buckets.append(moment)
        moment += step
    return buckets


def bucket_keys(window: Window, granularity: str) -> list[str]:
    """Every bucket start of the window, as the API writes it: worked out once per page."""
    return [iso(bucket) for bucket in _buckets(window, granularity)]


def sparkline(trend: list[dict[str, Any]], buckets: list[str]) -> str:
    """The SVG polyline points of a trend's executions over every bucket (bucket_keys; zero where a bucket
    had none), scaled to SPARK_WIDTH x SPARK_HEIGHT, at most a point per unit of width (the mean of the
    buckets it covers); empty for an empty window."""
    if not buckets:
        return ""
    by_start = {point["start"]: point["executions"] for point in trend}
    values = [by_start.get(bucket, 0) for bucket in buckets]
    # More buckets than units of width (custom periods of over 120 days, up to 366): a point per unit at
    # most, the mean of the buckets it covers, so that a page of 500 rows stays small. Evenly spread
    # edges and a mean, not a sum: a last, shorter group would otherwise look like a drop.
    if len(values) > SPARK_WIDTH:
        edges = [round(index * len(values) / SPARK_WIDTH) for index in range(SPARK_WIDTH + 1)]
        values = [sum(values[start:end]) / (end - start) for start, end in pairwise(edges)]
    top = max(values) or 1
    step = SPARK_WIDTH / max(len(values) - 1, 1)
    return " ".join(
        f"{index * step:.1f},{SPARK_HEIGHT - 2 - (value / top) * (SPARK_HEIGHT - 4):.1f}"
        for index, value in enumerate(values)
    )


SORTABLE = {
    "name": "template",
    "executions": "executions",
    "successRate": "success rate",
    "p95ResponseTime": "p95",
    "totalCost": "cost",
    "averageSatisfaction": "satisfaction",
}


def sorted_rows(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Rows by one of their figures (SORTABLE); rows without it (no executions) last either way."""
    if key not in SORTABLE:
        key = "name"
    known = [row for row in rows if row["numbers"][key] is not None]
    unknown = [row for row in rows if row["numbers"][key] is None]
    known.sort(key=lambda row: row["numbers"]["name"])  # ties by name, A to Z either way (the sort is stable)
    known.sort(key=lambda row: row["numbers"][key], reverse=descending)
    return known + unknown


# The template page's time-series charts: (id, title, the point's figure, its unit, whether it is a count:
# a bucket without executions counts 0 of it, while a rate or a percentile has no value there).
SERIES = [
    ("executions", "Executions", "executions", "", True),
    ("success-rate", "Success rate", "successRate", "%", False),
    ("p50", "p50 latency", "p50ResponseTime", "ms", False),
    ("p95", "p95 latency", "p95ResponseTime", "ms", False),
    ("tokens", "Tokens", "totalTokens", "", True),
    ("cost", "Cost", "cost", "", True),
]


def _ms(iso_text: str) -> int:
    return int(datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp() * 1000)


def markers(deployments: list[Any], rollbacks: list[Any], window: Window, environment: str | None) -> list[dict]:
    """Deploys and rollbacks inside the window (of the environment, if one is chosen), for the time axis."""
    found = []
    for deployment in deployments:
        if environment and deployment.environment != environment:
            continue
        if window.start is not None and not window.start <= deployment.deployed_at < window.end:
            continue
        if deployment.kind.endswith("_rollback"):
            continue  # drawn as its rollback
        found.append(
            {
                "x": int(deployment.deployed_at.timestamp() * 1000),
                "label": f"{deployment.version.number} deployed to {deployment.environment}",
                "kind": "deploy",
            }
        )
    for rollback in rollbacks:
        if rollback.state != "completed":  # a failed or unfinished one changed nothing that served
            continue
        if environment and rollback.environment != environment:
            continue
        if window.start is not None and not window.start <= rollback.requested_at < window.end:
            continue
        found.append(
            {
                "x": int(rollback.requested_at.timestamp() * 1000),
                "label": f"{rollback.type} rollback in {rollback.environment}: "
                f"{rollback.from_version.number} → {rollback.to_version.number}",
                "kind": "rollback",
            }
        )
    return sorted(found, key=lambda marker: marker["x"])


def series_charts(analytics: dict[str, Any], marked: list[dict]) -> list[dict[str, Any]]:
    """What each time-series chart draws: one line per version (points of the API's versionSeries), and the
    deploy and rollback markers. Read by the page's script from a JSON block."""
    start = datetime.fromisoformat(analytics["startDate"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(analytics["endDate"].replace("Z", "+00:00"))
    buckets = bucket_keys(Window(start, end), analytics["granularity"])
    charts = []
    for chart_id, title, figure, unit, counted in SERIES:
        charts.append(
            {
                "id": chart_id,
                "title": title,
                "unit": unit,
                "granularity": analytics["granularity"],
                "start": _ms(analytics["startDate"]),
                "end": _ms(analytics["endDate"]),
                "lines": [
                    {
                        "label": series["version"] or series["versionId"],
                        # Every bucket of the window: a line drops to 0, or breaks, where the version had none.
                        "points": [
                            [_ms(bucket), by_start[bucket][figure] if bucket in by_start else (0 if counted else None)]
                            for bucket in buckets
                        ],
                    }
                    for series in analytics["versionSeries"]
                    for by_start in [{point["start"]: point for point in series["points"]}]
                ],
                "markers": marked,
            }
        )
    return charts
