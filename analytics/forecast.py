"""A forecast of the next days' executions and cost, from the daily history, with its uncertainty.

Model: a straight line fitted by ordinary least squares to the daily totals, with a 95% prediction
interval from Student's t distribution (scipy). Deliberately simple: it says how confident it is, and it
refuses to guess from less than MIN_DAYS of history instead of making a number up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from scipy import stats

MODEL = "linear trend (ordinary least squares) on daily totals"
INTERVAL = "95% prediction interval"
MIN_DAYS = 7
HORIZON_DAYS = 7


def _line(xs: Sequence[float], ys: Sequence[float], ahead: Sequence[float]) -> list[tuple[float, float, float]]:
    """(prediction, low, high) at each x in `ahead`, clamped at zero (there are no negative executions)."""
    n = len(xs)
    fit = stats.linregress(xs, ys)
    residuals = [y - (fit.intercept + fit.slope * x) for x, y in zip(xs, ys, strict=True)]
    spread = math.sqrt(sum(r * r for r in residuals) / (n - 2)) if n > 2 else 0.0
    mean_x = sum(xs) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    t = stats.t.ppf(0.975, n - 2)
    out = []
    for x in ahead:
        center = fit.intercept + fit.slope * x
        half = t * spread * math.sqrt(1 + 1 / n + ((x - mean_x) ** 2 / sxx if sxx else 0))
        out.append((max(0.0, center), max(0.0, center - half), max(0.0, center + half)))
    return out


def forecast(daily: Sequence[tuple[date, float, float]], horizon: int = HORIZON_DAYS) -> dict[str, Any]:
    """The next `horizon` days after the last one in `daily` ((day, executions, cost) for consecutive days)."""
    base = {"model": MODEL, "interval": INTERVAL, "basedOnDays": len(daily)}
    if len(daily) < MIN_DAYS:
        return {
            **base,
            "available": False,
            "reason": f"needs at least {MIN_DAYS} days of history, this window has {len(daily)}",
            "days": [],
        }
    xs = list(range(len(daily)))
    ahead = [len(daily) + step for step in range(horizon)]
    executions = _line(xs, [row[1] for row in daily], ahead)
    costs = _line(xs, [row[2] for row in daily], ahead)
    last_day = daily[-1][0]
    days = []
    for step, ((count, count_low, count_high), (cost, cost_low, cost_high)) in enumerate(
        zip(executions, costs, strict=True), start=1
    ):
        days.append(
            {
                "date": (last_day + timedelta(days=step)).isoformat(),
                "executions": round(count, 1),
                "executionsLow": round(count_low, 1),
                "executionsHigh": round(count_high, 1),
                "cost": round(cost, 6),
                "costLow": round(cost_low, 6),
                "costHigh": round(cost_high, 6),
            }
        )
    return {**base, "available": True, "reason": None, "days": days}
