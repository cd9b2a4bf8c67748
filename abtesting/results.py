"""The results of an A/B test (GET /api/abtests/{id}/results): per-variant figures with their intervals, each
non-control variant against the control on every success and guardrail metric, the sample ratio check, the
minimum-data gate, a winner and a recommendation. Research 5.1 and issue 13 "Results (scipy)".

Read from the variants' sufficient statistics (abtesting.selectors.variant_numbers), computed by
abtesting.statistics; the same data always gives the same answer.

Choices, where the issue leaves room:
- Rates are percentages (API.md); a rate's difference is in percentage points, a relative lift a fraction.
- Averages of cost and tokens are per execution, an execution that reports none counting as 0 (as
  analytics' averageCost); satisfaction is averaged over the executions that report it.
- Holm's family is every (non-control variant x success metric) comparison with enough data; a success
  metric is `significant` on its Holm-adjusted p-value, a guardrail on its own p-value (guardrails stay
  outside the family: research A6).
- The winner: among the variants significantly better than the control on some success metric, worse on
  none, and not significantly worse on any guardrail, the best weighted score. None while the minimum-data
  gate holds or the sample ratio is off.
- The weighted score (descriptive, no test): sum of weight x attainment over the success metrics, where
  attainment is value / target (target / value when lower is better), the target being the metric's own or,
  when it has none, the control's value.
- The always-valid (sequential) interval beside each fixed-horizon one is tuned at GrowthBook's default
  N* = 5,000 executions (both arms); a planned sample from the power calculation would be better.
- The running period leaves out paused spans (a paused test serves its control): abtesting.selectors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.utils import timezone
from scipy import stats

from abtesting import statistics as st
from abtesting.models import ABTest, MetricType, Variant
from abtesting.selectors import VariantNumbers, abtest_by_id, running_spans, variant_numbers
from analytics import histogram
from analytics.permissions import require_may_read_numbers
from lifecycle.core.roles import User

# Optimizely's 100/25 rule (research 5.1): besides minimumSampleSize executions, each arm needs this many
# of the rarer outcome of every yes/no metric before a winner may be declared.
MINIMUM_RARER_EVENTS = 25
POWER = st.DEFAULT_POWER

_PROPORTIONS = {MetricType.CONVERSION_RATE, MetricType.SUCCESS_RATE}
_LOWER_IS_BETTER = {MetricType.RESPONSE_TIME, MetricType.COST, MetricType.TOKEN_USAGE}


@dataclass(frozen=True)
class _Metric:
    name: str
    type: MetricType
    role: str  # "success" or "guardrail"
    weight: float
    target: float | None

    @property
    def higher_is_better(self) -> bool:
        return self.type not in _LOWER_IS_BETTER

    @property
    def is_proportion(self) -> bool:
        return self.type in _PROPORTIONS


def _sample(metric_type: MetricType, numbers: VariantNumbers) -> st.ProportionSample | st.MeanSample:
    totals = numbers.totals
    n = int(totals.executions)
    if metric_type == MetricType.SUCCESS_RATE:
        return st.ProportionSample(n, int(totals.successes))
    if metric_type == MetricType.CONVERSION_RATE:
        return st.ProportionSample(n, int(totals.conversions))
    if metric_type == MetricType.USER_SATISFACTION:
        return st.MeanSample(int(totals.satisfaction_count), totals.satisfaction_sum, totals.satisfaction_sq)
    if metric_type == MetricType.RESPONSE_TIME:
        return st.MeanSample(n, totals.response_time_sum, totals.response_time_sq)
    if metric_type == MetricType.COST:
        return st.MeanSample(n, totals.cost, totals.cost_sq)
    return st.MeanSample(n, totals.total_tokens, totals.total_tokens_sq)


def _scale(metric_type: MetricType) -> float:
    return 100.0 if metric_type in _PROPORTIONS else 1.0


def _interval(interval: st.Interval | None, scale: float = 1.0) -> dict[str, float] | None:
    return None if interval is None else {"lower": interval.lower * scale, "upper": interval.upper * scale}


def _estimate(metric_type: MetricType, numbers: VariantNumbers, confidence_level: float) -> dict[str, Any]:
    sample = _sample(metric_type, numbers)
    if isinstance(sample, st.ProportionSample):
        estimate = st.proportion_estimate(sample, confidence_level=confidence_level)
    else:
        estimate = st.mean_estimate(sample, confidence_level=confidence_level)
    scale = _scale(metric_type)
    return {
        "value": None if estimate.value is None else estimate.value * scale,
        "interval": _interval(estimate.interval, scale),
        "n": estimate.n,
    }


def _p95(counts: Any, confidence_level: float) -> dict[str, Any]:
    """The 95th percentile with its distribution-free interval: the order statistics whose ranks bound the
    binomial(n, 0.95) count of values below the true p95 (within 1%, as every percentile here)."""
    total = int(counts.sum())
    value = histogram.percentile(counts, 95)
    if total == 0:
        return {"value": None, "interval": None, "n": 0}
    alpha = 1 - confidence_level
    lower_rank = int(stats.binom.ppf(alpha / 2, total, 0.95))
    upper_rank = int(stats.binom.ppf(1 - alpha / 2, total, 0.95)) + 1
    lower, upper = histogram.at_rank(counts, lower_rank), histogram.at_rank(counts, upper_rank)
    interval = None if lower is None or upper is None else {"lower": lower, "upper": upper}
    return {"value": value, "interval": interval, "n": total}


def _metrics(test: ABTest) -> list[_Metric]:
    success = [
        _Metric(m["name"], MetricType(m["type"]), "success", float(m.get("weight") or 0.0), m.get("target"))
        for m in test.success_metrics
    ]
    guardrails = [
        _Metric(m["name"], MetricType(m["type"]), "guardrail", 0.0, None) for m in test.guardrail_metrics or []
    ]
    return success + guardrails


def _primary(metrics: list[_Metric]) -> _Metric | None:
    """The heaviest success metric; the first of equals."""
    success = [metric for metric in metrics if metric.role == "success"]
    return max(success, key=lambda metric: metric.weight) if success else None


def _compare(metric: _Metric, control: VariantNumbers, variant: VariantNumbers, level: float) -> st.Comparison:
    control_sample, variant_sample = _sample(metric.type, control), _sample(metric.type, variant)
    if isinstance(control_sample, st.ProportionSample) and isinstance(variant_sample, st.ProportionSample):
        return st.compare_proportions(
            control_sample, variant_sample, confidence_level=level, higher_is_better=metric.higher_is_better
        )
    assert isinstance(control_sample, st.MeanSample)
    assert isinstance(variant_sample, st.MeanSample)
    return st.compare_means(
        control_sample, variant_sample, confidence_level=level, higher_is_better=metric.higher_is_better
    )


def _effect(effect: st.Effect | None, scale: float) -> dict[str, Any] | None:
    if effect is None:
        return None
    return {
        "estimate": effect.estimate * scale,
        "standardError": effect.standard_error * scale,
        "interval": _interval(effect.interval, scale),
    }


def _direction(comparison: st.Comparison, metric: _Metric) -> int:
    """+1 when the variant is better than the control, -1 worse, 0 equal or unknown."""
    if comparison.difference is None or comparison.difference.estimate == 0:
        return 0
    better = (comparison.difference.estimate > 0) == metric.higher_is_better
    return 1 if better else -1


def _required_per_arm(metric: _Metric, control: VariantNumbers, variant: VariantNumbers, level: float) -> int | None:
    """Executions per arm for 80 % power to detect the observed difference on `metric`; None without one."""
    control_sample, variant_sample = _sample(metric.type, control), _sample(metric.type, variant)
    if isinstance(control_sample, st.ProportionSample) and isinstance(variant_sample, st.ProportionSample):
        if control_sample.rate is None or variant_sample.rate is None:
            return None
        return st.executions_per_arm_for_proportion(
            control_sample.rate, variant_sample.rate - control_sample.rate, confidence_level=level, power=POWER
        )
    assert isinstance(control_sample, st.MeanSample)
    assert isinstance(variant_sample, st.MeanSample)
    if control_sample.variance is None or variant_sample.variance is None:
        return None
    assert control_sample.mean is not None
    assert variant_sample.mean is not None
    deviation = math.sqrt((control_sample.variance + variant_sample.variance) / 2)
    return st.executions_per_arm_for_mean(
        deviation, variant_sample.mean - control_sample.mean, confidence_level=level, power=POWER
    )


def _score(metrics: list[_Metric], values: dict[str, Any], control_values: dict[str, Any]) -> float | None:
    """Weighted attainment of the success metrics against their targets (descriptive; see the module)."""
    score, weights = 0.0, 0.0
    for metric in metrics:
        if metric.role != "success":
            continue
        value = values[metric.name]
        target = metric.target if metric.target is not None else control_values[metric.name]
        if value is None or target is None or target == 0 or (not metric.higher_is_better and value == 0):
            continue
        score += metric.weight * (value / target if metric.higher_is_better else target / value)
        weights += metric.weight
    return score / weights if weights else None


_FIGURES = {
    "successRate": MetricType.SUCCESS_RATE,
    "conversionRate": MetricType.CONVERSION_RATE,
    "averageSatisfaction": MetricType.USER_SATISFACTION,
    "averageResponseTime": MetricType.RESPONSE_TIME,
    "averageCost": MetricType.COST,
    "averageTokens": MetricType.TOKEN_USAGE,
}


def _variant_result(variant: Variant, numbers: VariantNumbers, level: float) -> dict[str, Any]:
    figures = {name: _estimate(metric_type, numbers, level) for name, metric_type in _FIGURES.items()}
    p95 = _p95(numbers.latencies, level)
    return {
        "variantId": variant.key,
        "name": variant.name,
        "templateVersionId": variant.template_version_id,
        "control": variant.is_control,
        "trafficPercentage": float(variant.traffic_percentage),
        "executions": int(numbers.totals.executions),
        "subjects": numbers.subjects,
        **{name: figure["value"] for name, figure in figures.items()},
        "p95ResponseTime": p95["value"],
        "intervals": {
            **{name: figure["interval"] for name, figure in figures.items()},
            "p95ResponseTime": p95["interval"],
        },
        "weightedScore": None,
    }


def results_for(*, actor: User, test_id: UUID, now: datetime | None = None) -> dict[str, Any]:
    """The test's results for `actor`: who may read the template's analytics may read them (maintainers,
    analysts, superusers: analytics.permissions holds the rule); 404 for an unknown test."""
    test = abtest_by_id(test_id)
    require_may_read_numbers(actor, test.template)
    return results_of(test, now=now or timezone.now())


def results_of(test: ABTest, *, now: datetime) -> dict[str, Any]:
    """The test's results as GET /api/abtests/{id}/results answers them (api.serializers.ABTestResultsOutput)."""
    level = test.confidence_level
    alpha = 1 - level
    variants = sorted(test.variants.all(), key=lambda variant: variant.position)
    numbers = variant_numbers(test, now=now)
    control = next(variant for variant in variants if variant.is_control)
    challengers = [variant for variant in variants if not variant.is_control]
    metrics = _metrics(test)
    primary = _primary(metrics)

    variant_results = [_variant_result(variant, numbers[variant.key], level) for variant in variants]
    metric_values = {
        variant.key: {metric.name: _estimate(metric.type, numbers[variant.key], level)["value"] for metric in metrics}
        for variant in variants
    }
    for result in variant_results:
        result["weightedScore"] = _score(metrics, metric_values[result["variantId"]], metric_values[control.key])

    # Comparisons, then Holm over the success ones with a p-value, in a fixed order (variant, metric).
    compared: list[tuple[Variant, _Metric, st.Comparison]] = [
        (variant, metric, _compare(metric, numbers[control.key], numbers[variant.key], level))
        for variant in challengers
        for metric in metrics
    ]
    family = [
        index
        for index, (_, metric, comparison) in enumerate(compared)
        if metric.role == "success" and comparison.p_value is not None
    ]
    adjusted = dict(zip(family, st.holm_adjust([compared[index][2].p_value or 0.0 for index in family]), strict=True))
    comparisons: list[dict[str, Any]] = []
    for index, (variant, metric, comparison) in enumerate(compared):
        scale = _scale(metric.type)
        p_adjusted = adjusted.get(index)
        decisive_p = p_adjusted if metric.role == "success" else comparison.p_value
        significant = comparison.enough_data and decisive_p is not None and decisive_p < alpha
        sequential = st.sequential_difference(comparison)
        difference = comparison.difference
        comparisons.append(
            {
                "variantId": variant.key,
                "metric": metric.name,
                "type": metric.type.value,
                "role": metric.role,
                "higherIsBetter": metric.higher_is_better,
                "enoughData": comparison.enough_data,
                "reason": comparison.reason,
                "method": None if comparison.method is None else comparison.method.value,
                "controlValue": None if comparison.control_mean is None else comparison.control_mean * scale,
                "variantValue": None if comparison.variant_mean is None else comparison.variant_mean * scale,
                "difference": _effect(difference, scale),
                "relativeLift": _effect(comparison.relative_lift, 1.0),
                "relativeLiftReason": comparison.relative_lift_reason,
                "degreesOfFreedom": comparison.degrees_of_freedom,
                "pValue": comparison.p_value,
                "pValueAdjusted": p_adjusted,
                "significant": significant,
                "direction": {1: "better", -1: "worse", 0: "same"}[_direction(comparison, metric)]
                if comparison.enough_data
                else None,
                "chanceToBeatControl": None if difference is None else difference.chance_to_beat_control,
                "sequential": None
                if sequential is None
                else {
                    "interval": _interval(sequential.interval, scale),
                    "pValue": sequential.p_value,
                    "mayStop": sequential.may_stop,
                },
            }
        )

    statistical_significance = primary is not None and any(
        row["significant"] for row in comparisons if row["metric"] == primary.name and row["role"] == "success"
    )

    # The sample ratio check: distinct subjects per variant against the configured split.
    srm = st.check_sample_ratio(
        [numbers[variant.key].subjects for variant in variants],
        [float(variant.traffic_percentage) for variant in variants],
    )
    sample_ratio = {
        "checked": srm.checked,
        "mismatch": srm.mismatch,
        "pValue": srm.p_value,
        "chiSquare": None if srm.chi_square is None or math.isinf(srm.chi_square) else srm.chi_square,
        "threshold": st.SRM_P_VALUE_THRESHOLD,
        "observed": {variant.key: numbers[variant.key].subjects for variant in variants},
        "expected": {variant.key: expected for variant, expected in zip(variants, srm.expected, strict=True)},
        "reason": srm.reason,
    }

    # The minimum-data gate, and how many more executions per arm 80 % power needs for the observed effect.
    executions = [int(numbers[variant.key].totals.executions) for variant in variants]
    short = []
    if min(executions) < test.minimum_sample_size:
        short.append(f"every variant needs {test.minimum_sample_size} executions (the smallest has {min(executions)})")
    # Executions per arm for MINIMUM_RARER_EVENTS of each yes/no metric's rarer outcome, at the observed rates.
    for_rarer_events = 0
    for metric in metrics:
        if not metric.is_proportion:
            continue
        short_of_events = None
        for variant in variants:
            sample = _sample(metric.type, numbers[variant.key])
            assert isinstance(sample, st.ProportionSample)
            rarer = min(sample.events, sample.n - sample.events)
            if rarer < MINIMUM_RARER_EVENTS:
                short_of_events = short_of_events or f"{variant.key} has {rarer}"
                if rarer:
                    for_rarer_events = max(for_rarer_events, math.ceil(MINIMUM_RARER_EVENTS * sample.n / rarer))
        if short_of_events:
            short.append(
                f"{metric.name}: every variant needs {MINIMUM_RARER_EVENTS} of its rarer outcome ({short_of_events})"
            )
    required = None
    if primary is not None and challengers:
        per_variant = [
            _required_per_arm(primary, numbers[control.key], numbers[variant.key], level) for variant in challengers
        ]
        known = [value for value in per_variant if value is not None]
        # The arm most likely to win first sets the horizon: the smallest sample that detects some effect.
        required = min(known) if known else None
    required = max(required, test.minimum_sample_size, for_rarer_events) if required is not None else None
    enough = not short
    sample_size = {
        "enoughData": enough,
        "minimumSampleSize": test.minimum_sample_size,
        "minimumRarerEvents": MINIMUM_RARER_EVENTS,
        "smallestArm": min(executions),
        "requiredPerArm": required,
        "moreExecutionsPerArm": st.more_executions_needed(required, executions),
        "power": POWER,
        "basedOn": None if primary is None else f"the observed difference in {primary.name}",
        "reasons": short,
    }

    # The winner and the recommendation.
    def is_candidate(variant: Variant) -> bool:
        rows = [row for row in comparisons if row["variantId"] == variant.key]
        success = [row for row in rows if row["role"] == "success"]
        better = any(row["significant"] and row["direction"] == "better" for row in success)
        worse = any(row["significant"] and row["direction"] == "worse" for row in rows)
        return better and not worse

    blocked = [
        variant.key
        for variant in challengers
        if any(
            row["significant"] and row["direction"] == "better"
            for row in comparisons
            if row["variantId"] == variant.key and row["role"] == "success"
        )
        and not is_candidate(variant)
    ]
    trustworthy = not srm.mismatch
    winner = None
    if test.state != ABTest.State.DRAFT and trustworthy and enough:
        candidates = [
            result
            for result in variant_results
            if result["variantId"] in {variant.key for variant in challengers if is_candidate(variant)}
        ]
        if candidates:
            # Best score first; ties by position (the list's order), so the answer is deterministic.
            best = max(candidates, key=lambda result: result["weightedScore"] or -math.inf)
            winner = best["variantId"]

    if test.state == ABTest.State.DRAFT:
        action, reason = "keep_running", "The test has not started: no executions count yet."
    elif not trustworthy:
        action, reason = (
            "keep_control",
            f"Untrustworthy: the subjects per variant do not match the configured split (sample ratio "
            f"mismatch, p = {srm.p_value:.2g}). Find the cause in assignment or reporting before trusting "
            f"any result; no winner is declared.",
        )
    elif not enough:
        more = sample_size["moreExecutionsPerArm"]
        action, reason = (
            "keep_running",
            "Not enough data yet: "
            + "; ".join(short)
            + "."
            + (f" About {more} more executions per variant give 80 % power for the observed effect." if more else ""),
        )
    elif winner is not None:
        action, reason = "ship", f"{winner} is significantly better than the control and no guardrail is worse."
    elif blocked:
        action, reason = (
            "keep_control",
            f"{', '.join(blocked)} improved a success metric but is significantly worse on another metric "
            f"or a guardrail.",
        )
    elif sample_size["moreExecutionsPerArm"] and test.state in (ABTest.State.RUNNING, ABTest.State.PAUSED):
        action, reason = (
            "keep_running",
            f"No significant difference yet; about {sample_size['moreExecutionsPerArm']} more executions per "
            f"variant give 80 % power for the observed effect.",
        )
    else:
        action, reason = "keep_control", "No variant is significantly better than the control."

    return {
        "testId": test.pk,
        "status": test.state,
        "confidenceLevel": level,
        "primaryMetric": None if primary is None else primary.name,
        "periods": [{"start": window.start, "end": window.end} for window in running_spans(test, now=now)],
        "variantResults": variant_results,
        "comparisons": comparisons,
        "statisticalSignificance": statistical_significance,
        "winner": winner,
        "trustworthy": trustworthy,
        "sampleRatioMismatch": sample_ratio,
        "sampleSize": sample_size,
        "recommendation": {"action": action, "reason": reason},
    }


def clear_winner(results: dict[str, Any]) -> str | None:
    """What an auto-stopping test may stop with, from its results (None: keep running): only once every arm
    has its minimum sample, the subjects' ratio is as configured, and the always-valid (sequential) interval
    of every variant's difference on the primary metric excludes 0, so that checking every minute does not
    inflate false positives (research A4). Then the variant clearly best on the primary metric and not
    significantly worse on a guardrail, or "control" when none is better."""
    primary = results["primaryMetric"]
    if primary is None or not results["sampleSize"]["enoughData"] or results["sampleRatioMismatch"]["mismatch"]:
        return None
    rows = [row for row in results["comparisons"] if row["metric"] == primary and row["role"] == "success"]
    if not rows or any(row["sequential"] is None or not row["sequential"]["mayStop"] for row in rows):
        return None
    harmed = {
        row["variantId"]
        for row in results["comparisons"]
        if row["role"] == "guardrail" and row["significant"] and row["direction"] == "worse"
    }
    better = [row for row in rows if row["direction"] == "better" and row["variantId"] not in harmed]
    if not better:
        return next(result["variantId"] for result in results["variantResults"] if result["control"])
    best = max(better, key=lambda row: abs(row["difference"]["estimate"]) if row["difference"] else 0.0)
    return str(best["variantId"])
