"""What one evaluation of a rule concludes (`judge`), how a rule's streak moves and when it fires
(`advance`), and what a firing hands to lifecycle.releases.rules.actions.act (`Firing`). Pure functions
of measurements and state: services.py reads, locks and writes around them.

The rules (research 5.2, and the issue):
- fewer than `minExecutions` in the window (or in the baseline) is `insufficient_data`: it neither
  breaches nor resets the streak, and never acts;
- absolute: breach iff value op threshold; previous_version: a one-sided test against the shifted null
  (statistics.py), breach iff its bound clears the margin (or, without `requireSignificance`, the
  point estimate);
- the streak grows by one per breach and resets on a clean evaluation with enough data; the rule fires
  when it reaches `consecutiveBreaches`, once per breach episode (the streak must reset before it fires
  again), then holds its cooldown. An episode that reaches its count during a cooldown fires when the
  cooldown ends, if it is still breaching then.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from lifecycle.releases.rules.definitions import (
    DAY_MINUTES,
    METRICS,
    Action,
    Baseline,
    Kind,
    Metric,
    Operator,
    alpha_of,
    minutes_text,
    number,
    threshold_text,
)
from lifecycle.releases.rules.measure import Measurement
from lifecycle.releases.rules.statistics import (
    absolute_difference_test,
    quantile_test,
    relative_difference_test,
)

OK, BREACH, INSUFFICIENT_DATA, ERROR = "ok", "breach", "insufficient_data", "error"
NONE, FIRE, DRY_RUN, COOLDOWN = "none", "fire", "dry_run", "cooldown"


@dataclass(frozen=True)
class Verdict:
    """What one evaluation of a rule found."""

    status: str
    candidate: Measurement | None
    baseline: Measurement | None = None
    estimate: float | None = None
    bound: float | None = None
    p_value: float | None = None
    alpha: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def judge(rule: Any, candidate: Measurement, baseline: Measurement | None) -> Verdict:
    """The verdict of `rule` (a TriggerRule, or anything with its attributes) on the candidate window and,
    for previous_version, the baseline (None: there is no previous deployment)."""
    info = METRICS[rule.metric]
    if rule.baseline == Baseline.ABSOLUTE:
        value = candidate.value
        if rule.metric == Metric.DAILY_COST and rule.operator == Operator.GT:
            value = value or 0.0  # a total over budget is over budget whatever the count; none ran: 0
        elif candidate.n < rule.min_executions or value is None:
            return _insufficient(
                candidate, f"{candidate.n} {info.sample} in the window, fewer than {rule.min_executions}"
            )
        breach = value < rule.threshold if rule.operator == Operator.LT else value > rule.threshold
        return Verdict(BREACH if breach else OK, candidate)
    if baseline is None:
        return _insufficient(candidate, "no previous deployment in this environment to compare with")
    if candidate.n < rule.min_executions or candidate.value is None:
        return _insufficient(candidate, f"{candidate.n} {info.sample} in the window, fewer than {rule.min_executions}")
    if baseline.n < rule.min_executions or baseline.value is None:
        return _insufficient(
            candidate,
            f"{baseline.n} {info.sample} in the previous version's baseline, fewer than {rule.min_executions}",
            baseline,
        )
    alpha = alpha_of(rule.action, rule.alpha)
    if info.kind == Kind.QUANTILE:
        return _judge_quantile(rule, candidate, baseline, alpha)
    if candidate.variance is None or baseline.variance is None:
        return _insufficient(
            candidate,
            "too few executions read raw at the window's edges to estimate the variance",
            baseline,
        )
    detail: dict[str, Any] = {"test": "one-sided Welch t on the relative difference (delta method)"}
    if baseline.mean == 0:
        scale = 100.0 if info.kind == Kind.PROPORTION else 1.0  # rates: percentage points
        result = absolute_difference_test(
            candidate.arm(), baseline.arm(), margin=rule.threshold / scale, operator=rule.operator, alpha=alpha
        )
        unit = "percentage points" if info.kind == Kind.PROPORTION else "the metric's unit"
        detail = {
            "test": "one-sided Welch t on the absolute difference",
            "fallback": f"the previous version's mean is 0, so a percent change is undefined: the difference "
            f"was compared with {number(rule.threshold)} {unit} instead",
        }
        estimate, bound = result.estimate * scale, result.bound * scale if result.bound is not None else None
    else:
        result = relative_difference_test(
            candidate.arm(),
            baseline.arm(),
            threshold_percent=rule.threshold,
            operator=rule.operator,
            alpha=alpha,
        )
        estimate, bound = result.estimate, result.bound
    if result.dof is not None:
        detail["dof"] = result.dof
    if info.kind == Kind.MEAN:
        detail["varianceFrom"] = {"window": candidate.variance_from, "baseline": baseline.variance_from}
    detail["requireSignificance"] = rule.require_significance
    breach = result.breach(rule.require_significance)
    return Verdict(BREACH if breach else OK, candidate, baseline, estimate, bound, result.p_value, alpha, detail)


def _judge_quantile(rule: Any, candidate: Measurement, baseline: Measurement, alpha: float) -> Verdict:
    assert candidate.latencies is not None
    assert candidate.value is not None
    assert baseline.value is not None
    margin = rule.threshold / 100
    detail: dict[str, Any] = {"test": "one-sided binomial test of the 95th percentile (scipy.stats.quantile_test)"}
    if baseline.value > 0:
        tested = baseline.value * (1 + margin if rule.operator == Operator.GT else 1 - margin)
    else:
        tested = rule.threshold if rule.operator == Operator.GT else 0.0
        detail["fallback"] = "the previous version's p95 is 0: compared with the threshold in milliseconds"
    result = quantile_test(candidate.latencies, tested_ms=tested, operator=rule.operator, alpha=alpha)
    detail.update({"testedMs": tested, "beyond": result.counted, "requireSignificance": rule.require_significance})
    if baseline.value > 0:
        estimate = candidate.value / baseline.value - 1
        bound = result.bound_ms / baseline.value - 1 if result.bound_ms is not None else None
    else:
        estimate, bound = candidate.value - baseline.value, result.bound_ms
    breach = result.breach(rule.require_significance)
    return Verdict(BREACH if breach else OK, candidate, baseline, estimate, bound, result.p_value, alpha, detail)


def _insufficient(candidate: Measurement, reason: str, baseline: Measurement | None = None) -> Verdict:
    return Verdict(INSUFFICIENT_DATA, candidate, baseline, detail={"reason": reason})


@dataclass(frozen=True)
class Standing:
    """A rule's running state between evaluations (TriggerState's fields)."""

    streak: int = 0
    episode_fired: bool = False
    cooldown_until: datetime | None = None


def advance(
    standing: Standing, status: str, rule: Any, *, now: datetime, blocked_until: datetime | None = None
) -> tuple[Standing, str]:
    """The standing after an evaluation of `status`, and the decision: fire, dry_run, cooldown or none.
    `blocked_until`: a cooldown held for the rule by another (a rollback rule of the same template and
    environment that rolled back)."""
    if status in (INSUFFICIENT_DATA, ERROR):
        return standing, NONE
    if status == OK:
        return Standing(0, False, standing.cooldown_until), NONE
    standing = replace(standing, streak=standing.streak + 1)
    if standing.streak < rule.consecutive_breaches or standing.episode_fired:
        return standing, NONE
    cooling = [moment for moment in (standing.cooldown_until, blocked_until) if moment is not None and moment > now]
    if cooling:
        return standing, COOLDOWN
    cooldown_until = now + timedelta(minutes=rule.cooldown_minutes) if rule.cooldown_minutes else None
    return Standing(standing.streak, True, cooldown_until), DRY_RUN if rule.dry_run else FIRE


@dataclass(frozen=True)
class Firing:
    """A rule that fired: what act() needs to record, roll back and notify.

    `evaluations` are the breaching evaluations of the episode (TriggerEvaluation rows, oldest first), the
    last `consecutiveBreaches` of them; `evidence` is their JSON with the rule and the baseline, frozen.
    """

    rule: Any  # TriggerRule
    rule_history_id: int
    deployment: Any  # Deployment
    action: str
    summary: str
    evidence: dict[str, Any]
    evaluations: tuple[Any, ...]
    task_id: str = ""

    @property
    def rolls_back(self) -> bool:
        return self.action == Action.ROLLBACK


def _with_unit(metric: str, value: float | None) -> str:
    if value is None:
        return "no data"
    unit = METRICS[metric].unit
    shown = number(round(value, 4 if METRICS[metric].kind in (Kind.MEAN, Kind.TOTAL) else 1))
    return f"{shown}{unit}" if unit == "/5" else f"{shown} {unit}".rstrip()


def _percent(value: float) -> str:
    return f"{'+' if value >= 0 else ''}{number(round(100 * value, 1))} %"


def summary(rule: Any, verdict: Verdict, consecutive: int) -> str:
    """One sentence for people: `success_rate < 95 % over 15m (observed 81.2 %, 240 executions) for 3
    consecutive evaluations`."""
    op = "<" if rule.operator == Operator.LT else ">"
    minutes = DAY_MINUTES if rule.metric == Metric.DAILY_COST else rule.window_minutes
    candidate = verdict.candidate
    assert candidate is not None
    observed = f"observed {_with_unit(rule.metric, candidate.value)}"
    if rule.baseline == Baseline.PREVIOUS_VERSION and verdict.baseline is not None:
        observed += f" vs {_with_unit(rule.metric, verdict.baseline.value)} before"
        if verdict.estimate is not None and "fallback" not in verdict.detail:
            observed += f", {_percent(verdict.estimate)}"
            if verdict.bound is not None and rule.require_significance:
                observed += f", {'lower' if rule.operator == Operator.GT else 'upper'} bound {_percent(verdict.bound)}"
    observed += f", {candidate.n} {METRICS[rule.metric].sample}"
    plural = "s" if consecutive != 1 else ""
    return (
        f"{rule.metric} {op} {threshold_text(rule.metric, rule.baseline, rule.threshold, rule.operator)} "
        f"over {minutes_text(minutes)} ({observed}) for {consecutive} consecutive evaluation{plural}"
    )
