"""The one-sided tests a previous_version rule runs (research 5.2): is the candidate worse than the
baseline by more than the rule's margin, beyond noise?

- Means and rates: the relative difference (candidate - baseline)/|baseline| with its delta-method
  standard error, which carries the baseline's own uncertainty, against the shifted null
  H0: difference ≤ margin (gbstats' `test_value`, LaunchDarkly's regression threshold, Spotify's NIM),
  with Welch-Satterthwaite degrees of freedom as gbstats computes them. Per-unit variance of a rate is
  p(1 - p), without n/(n - 1), as gbstats has it.
- A baseline mean of 0 (an error rate of 0 %): a relative change is undefined, so the absolute difference
  is tested against the threshold in the metric's own unit (percentage points for rates).
- p95: the binomial test of a quantile (scipy.stats.quantile_test's), on the candidate's latency
  histogram, against the baseline p95 moved by the margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from abtesting.statistics import welch_degrees_of_freedom
from analytics import histogram
from lifecycle.releases.rules.definitions import Operator


@dataclass(frozen=True)
class Arm:
    """Sufficient statistics of one sample: its size, mean and per-unit variance."""

    n: int
    mean: float
    variance: float


@dataclass(frozen=True)
class TestResult:
    estimate: float  # relative change (0.5 = +50 %), or the absolute difference when `relative` is false
    bound: float | None  # the one-sided (1 - alpha) confidence bound on the estimate's bad side
    p_value: float
    significant: bool  # the bound clears the margin (p < alpha)
    beyond_margin: bool  # the point estimate clears it
    relative: bool
    dof: float | None = None

    def breach(self, require_significance: bool) -> bool:
        return self.significant if require_significance else self.beyond_margin


def welch_dof(candidate: Arm, baseline: Arm) -> float:
    """Welch-Satterthwaite degrees of freedom from the two arms' variances of the mean (inf if unknown)."""
    dof = welch_degrees_of_freedom(baseline.variance, baseline.n, candidate.variance, candidate.n)
    return dof if dof is not None else math.inf


def _shifted_t_test(
    estimate: float, se: float, margin: float, operator: str, alpha: float, dof: float, relative: bool
) -> TestResult:
    """H0: estimate ≤ margin ("gt"), or estimate ≥ -margin ("lt"); one-sided at alpha."""
    target = margin if operator == Operator.GT else -margin
    beyond = estimate > target if operator == Operator.GT else estimate < target
    if se <= 0 or not math.isfinite(se):  # no spread: the point estimate is the whole story
        return TestResult(estimate, estimate, 0.0 if beyond else 1.0, beyond, beyond, relative, None)
    statistic = (estimate - target) / se
    quantile = float(stats.t.ppf(1 - alpha, dof))
    if operator == Operator.GT:
        p_value = float(stats.t.sf(statistic, dof))
        bound = estimate - quantile * se
        significant = bound > target
    else:
        p_value = float(stats.t.cdf(statistic, dof))
        bound = estimate + quantile * se
        significant = bound < target
    return TestResult(estimate, bound, p_value, significant, beyond, relative, dof if math.isfinite(dof) else None)


def relative_difference_test(
    candidate: Arm, baseline: Arm, *, threshold_percent: float, operator: str, alpha: float
) -> TestResult:
    """The candidate's relative change from a baseline whose mean is not 0, tested against
    ±threshold_percent/100 (research 5.2; gbstats' relative effect with its delta-method variance)."""
    mc, mb = candidate.mean, baseline.mean
    estimate = (mc - mb) / abs(mb)
    variance = candidate.variance / (mb**2 * candidate.n) + baseline.variance * mc**2 / (mb**4 * baseline.n)
    return _shifted_t_test(
        estimate,
        math.sqrt(variance),
        threshold_percent / 100,
        operator,
        alpha,
        welch_dof(candidate, baseline),
        relative=True,
    )


def absolute_difference_test(
    candidate: Arm, baseline: Arm, *, margin: float, operator: str, alpha: float
) -> TestResult:
    """candidate - baseline against ±margin (same unit as the means): the fallback for a zero baseline."""
    variance = candidate.variance / candidate.n + baseline.variance / baseline.n
    return _shifted_t_test(
        candidate.mean - baseline.mean,
        math.sqrt(variance),
        margin,
        operator,
        alpha,
        welch_dof(candidate, baseline),
        relative=False,
    )


@dataclass(frozen=True)
class QuantileResult:
    p_value: float
    bound_ms: float | None  # one-sided (1 - alpha) bound on the candidate's quantile; None: none exists
    significant: bool
    beyond_margin: bool
    counted: int  # executions surely beyond the tested value (the binomial count)

    def breach(self, require_significance: bool) -> bool:
        return self.significant if require_significance else self.beyond_margin


def quantile_test(
    counts: np.ndarray, *, tested_ms: float, operator: str, alpha: float, quantile: float = 0.95
) -> QuantileResult:
    """Is the candidate's `quantile` above ("gt") or below ("lt") `tested_ms`? scipy.stats.quantile_test's
    exact binomial test, on a latency histogram (analytics.histogram).

    A histogram bucket spans 2 % of its value: only executions in buckets wholly beyond `tested_ms` count
    as beyond it, so the test is conservative by at most that much.
    """
    n = int(counts.sum())
    point = histogram.percentile(counts, quantile * 100)
    assert point is not None
    assert n > 0
    tested_bucket = histogram.bucket_of(tested_ms)
    cumulative = np.cumsum(counts)
    if operator == Operator.GT:
        # H0: the quantile is at most tested_ms, so at most (1 - quantile) of executions lie above it.
        counted = int(counts[tested_bucket + 1 :].sum())
        p_value = float(stats.binom.sf(counted - 1, n, 1 - quantile))
        rank = int(stats.binom.ppf(alpha, n, quantile))  # P(Bin(n, q) >= rank) >= 1 - alpha
        bound = _value_at_rank(cumulative, rank) if rank >= 1 else None
        beyond = point > tested_ms
    else:
        # H0: the quantile is at least tested_ms, so at most `quantile` of executions lie below it.
        counted = int(counts[:tested_bucket].sum())
        p_value = float(stats.binom.sf(counted - 1, n, quantile))
        rank = int(stats.binom.ppf(1 - alpha, n, quantile)) + 1
        bound = _value_at_rank(cumulative, rank) if rank <= n else None
        beyond = point < tested_ms
    return QuantileResult(p_value, bound, p_value < alpha, beyond, counted)


def _value_at_rank(cumulative: np.ndarray, rank: int) -> float:
    """The histogram's value of the `rank`-th smallest execution (1-based), within 1 %."""
    index = int(np.searchsorted(cumulative, rank))
    one = np.zeros_like(cumulative)
    one[index] = 1
    value = histogram.percentile(one, 100)
    assert value is not None
    return value
