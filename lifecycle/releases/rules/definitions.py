"""What a trigger rule may say: its metrics and their units and ranges, its bounds and defaults, and the
one human-readable form of a rule (../shared/research/experiments-and-rollback.md, 5.2), rendered from
its fields and never parsed back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models

# A rule's webhook is the outbox's to send: its limit.
from lifecycle.core.outbox.webhooks import MAX_URL_LENGTH as MAX_URL_LENGTH


class Metric(models.TextChoices):
    SUCCESS_RATE = "success_rate"
    ERROR_RATE = "error_rate"
    P95_RESPONSE_TIME = "p95_response_time"
    AVERAGE_COST = "average_cost"
    AVERAGE_SATISFACTION = "average_satisfaction"
    DAILY_COST = "daily_cost"


class Operator(models.TextChoices):
    LT = "lt", "lt: bad below the threshold"
    GT = "gt", "gt: bad above the threshold"


class Baseline(models.TextChoices):
    ABSOLUTE = "absolute"  # the window's value against `threshold`, in the metric's unit
    PREVIOUS_VERSION = "previous_version"  # its percent change from the previously active version's


class Action(models.TextChoices):
    ALERT = "alert"
    ROLLBACK = "rollback"


class Kind(models.TextChoices):
    """How a metric is computed and, against a baseline, tested."""

    PROPORTION = "proportion"  # a rate: executions with an outcome, over executions
    MEAN = "mean"  # an average per unit
    QUANTILE = "quantile"  # p95
    TOTAL = "total"  # a sum over the window (cost per day)


@dataclass(frozen=True)
class MetricInfo:
    kind: str
    unit: str  # as the rule's text shows it
    low: float  # the smallest value the metric takes
    high: float | None  # the largest, None if unbounded
    sample: str  # what its sample size counts (minExecutions applies to it)


# Response times are capped at an hour on ingestion (analytics.reports); costs have no natural ceiling,
# but a threshold beyond a billion is a typo.
_MAX_MS = 3_600_000.0
_MAX_COST = 1e9

METRICS: dict[str, MetricInfo] = {
    Metric.SUCCESS_RATE: MetricInfo(Kind.PROPORTION, "%", 0.0, 100.0, "executions"),
    Metric.ERROR_RATE: MetricInfo(Kind.PROPORTION, "%", 0.0, 100.0, "executions"),
    Metric.P95_RESPONSE_TIME: MetricInfo(Kind.QUANTILE, "ms", 0.0, _MAX_MS, "executions"),
    Metric.AVERAGE_COST: MetricInfo(Kind.MEAN, "", 0.0, _MAX_COST, "executions"),
    # Averaged over the executions that reported a satisfaction: minExecutions counts those.
    Metric.AVERAGE_SATISFACTION: MetricInfo(Kind.MEAN, "/5", 1.0, 5.0, "satisfaction reports"),
    Metric.DAILY_COST: MetricInfo(Kind.TOTAL, "", 0.0, _MAX_COST, "executions"),
}

# (smallest, largest), inclusive; the API's schema states them too.
WINDOW_MINUTES = (1, 1440)
MIN_EXECUTIONS = (1, 100_000)
CONSECUTIVE_BREACHES = (1, 100)
COOLDOWN_MINUTES = (0, 10_080)  # a week
PERCENT_CHANGE = (0.0, 10_000.0)  # previous_version: > 0, at most +10,000 %
ALPHA = (0.0001, 0.2)
MAX_EMAILS = 20

DEFAULT_WINDOW_MINUTES = 15
DEFAULT_MIN_EXECUTIONS = 100
DEFAULT_CONSECUTIVE_BREACHES = 3
DEFAULT_COOLDOWN_MINUTES = 60
DAY_MINUTES = 1440  # daily_cost always reads the last 24 hours
# A baseline from the previous version reads this many windows before the switch (research 5.2).
BASELINE_WINDOWS = 8
# One-sided significance level when a rule leaves `alpha` null: stricter for rules that roll back, which
# are looked at every tick (research 5.2, "Repeated looks").
DEFAULT_ALPHA = {Action.ROLLBACK: 0.01, Action.ALERT: 0.05}


def alpha_of(action: str, alpha: float | None) -> float:
    return alpha if alpha is not None else DEFAULT_ALPHA[Action(action)]


def number(value: float) -> str:
    """A number as a rule's text shows it: 95, 0.25, 5000 (no trailing zeros, no exponent for usual values)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def threshold_text(metric: str, baseline: str, threshold: float, operator: str = Operator.GT) -> str:
    if baseline == Baseline.PREVIOUS_VERSION:
        sign = "-" if operator == Operator.LT else "+"
        return f"{sign}{number(threshold)} % vs previous version"
    unit = METRICS[metric].unit
    return f"{number(threshold)} {unit}".rstrip() if unit else number(threshold)


def minutes_text(minutes: int) -> str:
    if minutes and minutes % DAY_MINUTES == 0:
        return f"{minutes // DAY_MINUTES}d"
    if minutes and minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def describe(fields: Any) -> str:
    """The rule as one line (research 5.2's grammar), from a rule or anything with its attributes, e.g.
    `success_rate < 95 % over 15m min 100 executions for 3 consecutive evaluations then rollback cooldown 60m`."""
    op = "<" if fields.operator == Operator.LT else ">"
    daily = fields.metric == Metric.DAILY_COST
    text = f"{fields.metric} {op} {threshold_text(fields.metric, fields.baseline, fields.threshold, fields.operator)}"
    text += f" over {minutes_text(DAY_MINUTES if daily else fields.window_minutes)}"
    if not (daily and fields.operator == Operator.GT):  # a total over budget is over budget at any count
        text += f" min {fields.min_executions} {METRICS[fields.metric].sample}"
    text += (
        f" for {fields.consecutive_breaches} consecutive evaluation{'s' if fields.consecutive_breaches != 1 else ''}"
    )
    text += f" then {fields.action}"
    if fields.cooldown_minutes:
        text += f" cooldown {minutes_text(fields.cooldown_minutes)}"
    if getattr(fields, "dry_run", False):
        text += " (dry run)"
    return text
