"""The statistics behind A/B test results (research A2-A8 and 5.1): pure functions of per-variant sufficient
statistics, numpy and scipy only, deterministic, no I/O.

- Comparisons with the control (`compare_proportions`, `compare_means`): the absolute difference, which
  decides significance, with its confidence interval and p-value; the relative lift with its delta-method
  interval; Welch-Satterthwaite degrees of freedom; the chance to beat the control. These are gbstats'
  formulas (GrowthBook's TwoSidedTTest, which PostHog and Eppo share), so research 3.2 checks them.
  Proportions use the unpooled standard error with a per-unit variance p(1 - p) (no n/(n - 1), as gbstats)
  and the t distribution with Welch's degrees of freedom: at the sample sizes where a verdict is allowed
  that is the unpooled two-sample z-test, and it matches gbstats exactly. When an expected cell count of the
  2x2 table is below 5, the p-value is Fisher's exact test's instead (research A2, the issue).
- Per-variant figures with intervals (`proportion_estimate`: Wilson; `mean_estimate`: Student t).
- `holm_adjust` (GrowthBook's Holm), `check_sample_ratio` (chi-square against the configured split),
  the executions per arm for 80 % power, and GrowthBook's always-valid confidence sequence (research A4) for
  auto-stop, which may look at the data as often as it likes.

Not enough data (an arm with fewer than 2 units, a control mean of 0 for a relative lift) is an answer with
`enough_data` false (or a None field) and a reason, never an exception or a NaN. Invalid input (negative
counts, events above n, a confidence level outside (0, 1)) is a caller's bug and raises ValueError.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from promptrender.assignment import validate_percentages
from scipy import special, stats

DEFAULT_CONFIDENCE_LEVEL = 0.95
DEFAULT_POWER = 0.8

# Below 2 units an arm has no variance; every comparison needs at least this many in each arm.
MINIMUM_UNITS_PER_ARM = 2

# Fisher's exact test replaces the normal approximation when an expected count of the 2x2 table (events and
# non-events per arm, under "no difference") is below this: Cochran's rule for chi-square-type tests.
FISHER_BELOW_EXPECTED_COUNT = 5

# Sample ratio mismatch: flagged at p < 0.001 (GrowthBook, Eppo, PostHog), because the check is repeated on
# every look and a mismatch blocks a verdict. The chi-square approximation needs every expected count to be
# at least 5 (Cochran's rule); below that, the check says it could not be made rather than guess.
SRM_P_VALUE_THRESHOLD = 0.001
SRM_MINIMUM_EXPECTED_COUNT = 5

# GrowthBook's default N* for its confidence sequence: "the sample size (both arms) at which you tend to make
# decisions". Research 5.1: pass the planned total sample from the power calculation when there is one.
DEFAULT_SEQUENTIAL_TUNING_N = 5000


class Method(StrEnum):
    """Which test produced a comparison's p-value."""

    UNPOOLED_T = "unpooled_t"  # unpooled SE, Welch-Satterthwaite dof: the two-sample z-test at large n
    FISHER_EXACT = "fisher_exact"
    WELCH_T = "welch_t"


@dataclass(frozen=True)
class Interval:
    lower: float
    upper: float

    def excludes(self, value: float = 0.0) -> bool:
        return value < self.lower or value > self.upper


@dataclass(frozen=True)
class ProportionSample:
    """One arm of a yes/no metric: `n` units (executions), `events` of which were a yes."""

    n: int
    events: int

    def __post_init__(self) -> None:
        if not isinstance(self.n, int | np.integer) or not isinstance(self.events, int | np.integer):
            raise ValueError("A proportion's n and events must be integers.")
        if self.n < 0 or self.events < 0 or self.events > self.n:
            raise ValueError(f"A proportion needs 0 <= events <= n (got events={self.events}, n={self.n}).")

    @property
    def rate(self) -> float | None:
        return self.events / self.n if self.n else None


@dataclass(frozen=True)
class MeanSample:
    """One arm of a numeric metric, as its sufficient statistics: n, Σy and Σy²."""

    n: int
    sum_of_values: float
    sum_of_squares: float

    def __post_init__(self) -> None:
        if not isinstance(self.n, int | np.integer) or self.n < 0:
            raise ValueError(f"A mean's n must be a non-negative integer (got {self.n!r}).")
        if not (math.isfinite(self.sum_of_values) and math.isfinite(self.sum_of_squares)):
            raise ValueError("A mean's sums must be finite numbers.")
        if self.sum_of_squares < 0:
            raise ValueError("A sum of squares cannot be negative.")

    @property
    def mean(self) -> float | None:
        return self.sum_of_values / self.n if self.n else None

    @property
    def variance(self) -> float | None:
        """The sample variance (n - 1 in the denominator); None below 2 units."""
        if self.n < 2:
            return None
        # Σy² - (Σy)²/n can come out a hair below 0 from rounding when every value is the same.
        return max(0.0, (self.sum_of_squares - self.sum_of_values**2 / self.n) / (self.n - 1))


@dataclass(frozen=True)
class Estimate:
    """A per-variant figure (a rate or a mean) with its confidence interval."""

    value: float | None
    interval: Interval | None
    n: int
    enough_data: bool
    reason: str | None = None


@dataclass(frozen=True)
class Effect:
    """An effect of the variant against the control on one scale (absolute or relative)."""

    estimate: float
    standard_error: float
    interval: Interval
    p_value: float
    chance_to_beat_control: float  # normal approximation, flat prior: P(the variant is better)


@dataclass(frozen=True)
class Comparison:
    """A variant against the control on one metric. `difference` (variant - control) decides significance;
    `relative_lift` ((variant - control) / |control|) is reported beside it."""

    enough_data: bool
    reason: str | None
    method: Method | None
    confidence_level: float
    control_n: int
    variant_n: int
    control_mean: float | None
    variant_mean: float | None
    difference: Effect | None
    relative_lift: Effect | None
    relative_lift_reason: str | None
    degrees_of_freedom: float | None
    p_value: float | None  # the difference's: Fisher's when `method` says so
    significant: bool  # p_value < 1 - confidence_level


@dataclass(frozen=True)
class SequentialInterval:
    """GrowthBook's always-valid confidence sequence for an effect: valid however often it is looked at."""

    interval: Interval
    p_value: float  # always-valid: 1 / the e-value, capped at 1
    total_n: int
    tuning_n: float

    @property
    def may_stop(self) -> bool:
        return self.interval.excludes(0.0)


@dataclass(frozen=True)
class SampleRatioCheck:
    """Chi-square goodness of fit of units per variant against the configured split."""

    checked: bool  # False when the expected counts were too small to test
    mismatch: bool
    p_value: float | None
    chi_square: float | None
    expected: list[float]
    reason: str | None = None


def _alpha(confidence_level: float) -> float:
    if isinstance(confidence_level, bool) or not 0.0 < confidence_level < 1.0:
        raise ValueError(f"A confidence level must lie strictly between 0 and 1 (got {confidence_level!r}).")
    return 1.0 - confidence_level


def chance_to_beat_control(estimate: float, standard_error: float, higher_is_better: bool = True) -> float:
    """P(the true effect is on the good side of 0) under a flat prior and a normal likelihood: GrowthBook's
    and PostHog's "chance to win", norm.sf(0, estimate, standard_error)."""
    if standard_error > 0:
        probability_positive = float(special.ndtr(estimate / standard_error))
    else:
        probability_positive = 1.0 if estimate > 0 else 0.0 if estimate < 0 else 0.5
    return probability_positive if higher_is_better else 1.0 - probability_positive


def welch_degrees_of_freedom(
    control_variance: float, control_n: int, variant_variance: float, variant_n: int
) -> float | None:
    """Welch-Satterthwaite degrees of freedom from per-unit variances; None when neither arm varies (an arm
    of one unit adds no term: its variance has no degrees of freedom)."""
    control_term, variant_term = control_variance / control_n, variant_variance / variant_n
    denominator = (control_term**2 / (control_n - 1) if control_n > 1 else 0.0) + (
        variant_term**2 / (variant_n - 1) if variant_n > 1 else 0.0
    )
    return (control_term + variant_term) ** 2 / denominator if denominator > 0 else None


def _effect(estimate: float, variance: float, dof: float | None, alpha: float, higher_is_better: bool) -> Effect:
    """Two-sided t-test of estimate = 0 and its interval. Without spread (variance 0, so no dof) the estimate
    is exact: its interval is the point, and the p-value 0 if it is not 0, else 1."""
    standard_error = math.sqrt(variance)
    if standard_error == 0 or dof is None:
        return Effect(
            estimate=estimate,
            standard_error=0.0,
            interval=Interval(estimate, estimate),
            p_value=0.0 if estimate != 0 else 1.0,
            chance_to_beat_control=chance_to_beat_control(estimate, 0.0, higher_is_better),
        )
    # stdtr(dof, -|t|) is the t distribution's lower tail: accurate for tiny p, unlike 1 - cdf.
    p_value = float(min(1.0, 2.0 * special.stdtr(dof, -abs(estimate) / standard_error)))
    half_width = float(special.stdtrit(dof, 1.0 - alpha / 2.0)) * standard_error
    return Effect(
        estimate=estimate,
        standard_error=standard_error,
        interval=Interval(estimate - half_width, estimate + half_width),
        p_value=p_value,
        chance_to_beat_control=chance_to_beat_control(estimate, standard_error, higher_is_better),
    )


def _compare(
    control_mean: float,
    control_variance: float,
    control_n: int,
    variant_mean: float,
    variant_variance: float,
    variant_n: int,
    alpha: float,
    higher_is_better: bool,
) -> tuple[Effect, Effect | None, str | None, float | None]:
    """The absolute and relative effects (gbstats' TwoSidedTTest), the reason a relative one is missing, and
    the Welch dof, which gbstats uses for both scales."""
    dof = welch_degrees_of_freedom(control_variance, control_n, variant_variance, variant_n)
    difference = _effect(
        variant_mean - control_mean,
        control_variance / control_n + variant_variance / variant_n,
        dof,
        alpha,
        higher_is_better,
    )
    if control_mean == 0:
        return difference, None, "The control's mean is 0, so a relative change is undefined.", dof
    # Delta method: the variance of (mean_T - mean_C) / |mean_C| carries the control mean's own uncertainty.
    relative_variance = variant_variance / (control_mean**2 * variant_n) + control_variance * variant_mean**2 / (
        control_mean**4 * control_n
    )
    relative = _effect(
        (variant_mean - control_mean) / abs(control_mean), relative_variance, dof, alpha, higher_is_better
    )
    return difference, relative, None, dof


def _not_enough_data(
    confidence_level: float,
    control_n: int,
    variant_n: int,
    control_mean: float | None,
    variant_mean: float | None,
) -> Comparison:
    return Comparison(
        enough_data=False,
        reason=f"Each arm needs at least {MINIMUM_UNITS_PER_ARM} executions.",
        method=None,
        confidence_level=confidence_level,
        control_n=control_n,
        variant_n=variant_n,
        control_mean=control_mean,
        variant_mean=variant_mean,
        difference=None,
        relative_lift=None,
        relative_lift_reason=None,
        degrees_of_freedom=None,
        p_value=None,
        significant=False,
    )


def compare_proportions(
    control: ProportionSample,
    variant: ProportionSample,
    *,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    higher_is_better: bool = True,
) -> Comparison:
    """The variant's rate against the control's: difference and relative lift with their intervals, the
    p-value of the unpooled two-sample test (Welch dof, as gbstats), or of Fisher's exact test when an
    expected count of the 2x2 table is below FISHER_BELOW_EXPECTED_COUNT or neither arm varies (all yes or
    all no: the normal approximation has no spread to work with). With Fisher the interval stays the
    approximate one; `significant` follows the p-value."""
    alpha = _alpha(confidence_level)
    if control.n < MINIMUM_UNITS_PER_ARM or variant.n < MINIMUM_UNITS_PER_ARM:
        return _not_enough_data(confidence_level, control.n, variant.n, control.rate, variant.rate)
    control_rate, variant_rate = control.events / control.n, variant.events / variant.n
    difference, relative, relative_reason, dof = _compare(
        control_rate,
        control_rate * (1 - control_rate),
        control.n,
        variant_rate,
        variant_rate * (1 - variant_rate),
        variant.n,
        alpha,
        higher_is_better,
    )
    total_n, total_events = control.n + variant.n, control.events + variant.events
    smallest_expected_count = min(
        arm_n * outcome_total / total_n
        for arm_n in (control.n, variant.n)
        for outcome_total in (total_events, total_n - total_events)
    )
    method = Method.UNPOOLED_T
    if smallest_expected_count < FISHER_BELOW_EXPECTED_COUNT or difference.standard_error == 0:
        method = Method.FISHER_EXACT
        table = [[variant.events, variant.n - variant.events], [control.events, control.n - control.events]]
        fisher_p_value = float(stats.fisher_exact(table).pvalue)
        difference = Effect(
            estimate=difference.estimate,
            standard_error=difference.standard_error,
            interval=difference.interval,
            p_value=fisher_p_value,
            chance_to_beat_control=difference.chance_to_beat_control,
        )
    return Comparison(
        enough_data=True,
        reason=None,
        method=method,
        confidence_level=confidence_level,
        control_n=control.n,
        variant_n=variant.n,
        control_mean=control_rate,
        variant_mean=variant_rate,
        difference=difference,
        relative_lift=relative,
        relative_lift_reason=relative_reason,
        degrees_of_freedom=dof,
        p_value=difference.p_value,
        significant=difference.p_value < alpha,
    )


def compare_means(
    control: MeanSample,
    variant: MeanSample,
    *,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    higher_is_better: bool = True,
) -> Comparison:
    """The variant's mean against the control's by Welch's t-test (scipy's ttest_ind_from_stats with
    equal_var=False): difference and relative lift with their intervals, Welch-Satterthwaite dof. When
    neither arm varies the difference is exact (p 0 if the means differ, else 1)."""
    alpha = _alpha(confidence_level)
    if control.n < MINIMUM_UNITS_PER_ARM or variant.n < MINIMUM_UNITS_PER_ARM:
        return _not_enough_data(confidence_level, control.n, variant.n, control.mean, variant.mean)
    control_mean, variant_mean = control.sum_of_values / control.n, variant.sum_of_values / variant.n
    control_variance, variant_variance = control.variance, variant.variance
    assert control_variance is not None  # n >= 2
    assert variant_variance is not None
    difference, relative, relative_reason, dof = _compare(
        control_mean,
        control_variance,
        control.n,
        variant_mean,
        variant_variance,
        variant.n,
        alpha,
        higher_is_better,
    )
    return Comparison(
        enough_data=True,
        reason=None,
        method=Method.WELCH_T,
        confidence_level=confidence_level,
        control_n=control.n,
        variant_n=variant.n,
        control_mean=control_mean,
        variant_mean=variant_mean,
        difference=difference,
        relative_lift=relative,
        relative_lift_reason=relative_reason,
        degrees_of_freedom=dof,
        p_value=difference.p_value,
        significant=difference.p_value < alpha,
    )


def proportion_estimate(sample: ProportionSample, *, confidence_level: float = DEFAULT_CONFIDENCE_LEVEL) -> Estimate:
    """The rate with its Wilson score interval (research 5.1; it stays inside [0, 1] and behaves at 0 and
    all-yes, unlike the Wald interval). Equals scipy's binomtest(...).proportion_ci(method="wilson")."""
    alpha = _alpha(confidence_level)
    if sample.n == 0:
        return Estimate(None, None, 0, False, "No executions yet.")
    z = float(special.ndtri(1.0 - alpha / 2.0))
    n, events = sample.n, sample.events
    center = (events + z**2 / 2) / (n + z**2)
    half_width = z / (n + z**2) * math.sqrt(events * (n - events) / n + z**2 / 4)
    # Rounding can push a bound a hair past 0 or 1 at all-no or all-yes.
    interval = Interval(max(0.0, center - half_width), min(1.0, center + half_width))
    return Estimate(events / n, interval, n, True)


def mean_estimate(sample: MeanSample, *, confidence_level: float = DEFAULT_CONFIDENCE_LEVEL) -> Estimate:
    """The mean with its Student t interval; below 2 units the mean (if any) without an interval."""
    alpha = _alpha(confidence_level)
    if sample.n < 2:
        reason = "No executions yet." if sample.n == 0 else "One execution: no spread to build an interval from."
        return Estimate(sample.mean, None, sample.n, False, reason)
    mean, variance = sample.sum_of_values / sample.n, sample.variance
    assert variance is not None  # n >= 2
    half_width = float(special.stdtrit(sample.n - 1, 1.0 - alpha / 2.0)) * math.sqrt(variance / sample.n)
    return Estimate(mean, Interval(mean - half_width, mean + half_width), sample.n, True)


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given (GrowthBook's algorithm, research 6.2): sort
    ascending, multiply the i-th smallest (from 0) by m - i, cap at 1, then carry the running maximum."""
    values = np.asarray(p_values, dtype=float)
    if values.ndim != 1:
        raise ValueError("Holm's adjustment takes a flat list of p-values.")
    if not np.all((values >= 0) & (values <= 1)):  # also refuses NaN
        raise ValueError("p-values must lie between 0 and 1.")
    count = len(values)
    # A stable sort keeps ties in their given order, so the answer does not depend on the sort algorithm.
    order = np.argsort(values, kind="stable")
    adjusted_sorted = np.maximum.accumulate(np.minimum(values[order] * (count - np.arange(count)), 1.0))
    adjusted = np.empty(count)
    adjusted[order] = adjusted_sorted
    return [float(value) for value in adjusted]


def check_sample_ratio(
    observed: Sequence[int],
    percentages: Sequence[float],
    *,
    threshold: float = SRM_P_VALUE_THRESHOLD,
    minimum_expected_count: float = SRM_MINIMUM_EXPECTED_COUNT,
) -> SampleRatioCheck:
    """Whether the units (distinct subjects) per variant fit the configured split: Pearson's chi-square
    goodness of fit, df = (variants with a share) - 1, flagged at p < `threshold` once every expected count
    is at least `minimum_expected_count`. A variant configured at 0 % is left out of the test (as gbstats
    does), but a unit in it is a mismatch by itself: assignment can never put one there."""
    shares = validate_percentages(percentages)
    if len(observed) != len(shares):
        raise ValueError(f"{len(observed)} observed counts for {len(shares)} variants.")
    if any(isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0 for count in observed):
        raise ValueError("Observed counts must be non-negative integers.")
    total = sum(int(count) for count in observed)
    expected = [total * share / 100.0 for share in shares]
    if any(share == 0 and count > 0 for share, count in zip(shares, observed, strict=True)):
        return SampleRatioCheck(True, True, 0.0, math.inf, expected, "Units in a variant configured for 0 %.")
    tested = [
        (count, expectation) for share, count, expectation in zip(shares, observed, expected, strict=True) if share
    ]
    if len(tested) < 2:
        return SampleRatioCheck(False, False, None, None, expected, "Only one variant receives traffic.")
    if min(expectation for _, expectation in tested) < minimum_expected_count:
        reason = f"Too few units: every variant needs at least {minimum_expected_count:g} expected."
        return SampleRatioCheck(False, False, None, None, expected, reason)
    chi_square = math.fsum((count - expectation) ** 2 / expectation for count, expectation in tested)
    p_value = float(special.chdtrc(len(tested) - 1, chi_square))
    return SampleRatioCheck(True, p_value < threshold, p_value, chi_square, expected)


def _z_for_power(confidence_level: float, power: float) -> float:
    alpha = _alpha(confidence_level)
    if isinstance(power, bool) or not 0.0 < power < 1.0:
        raise ValueError(f"Power must lie strictly between 0 and 1 (got {power!r}).")
    return float(special.ndtri(1.0 - alpha / 2.0) + special.ndtri(power))


def executions_per_arm_for_proportion(
    baseline_rate: float,
    absolute_effect: float,
    *,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    power: float = DEFAULT_POWER,
) -> int | None:
    """Executions per arm for the two-sided test to detect a move of the rate from `baseline_rate` by
    `absolute_effect` (0.02: 10 % -> 12 %) with `power`: (z_{1-alpha/2} + z_power)^2 (p1 q1 + p2 q2) / (p2 - p1)^2,
    rounded up (research A8). None for an effect of 0, which no sample detects."""
    if not 0.0 <= baseline_rate <= 1.0 or not 0.0 <= baseline_rate + absolute_effect <= 1.0:
        raise ValueError("The baseline rate and the rate after the effect must both lie between 0 and 1.")
    z = _z_for_power(confidence_level, power)
    if absolute_effect == 0:
        return None
    target_rate = baseline_rate + absolute_effect
    variance_sum = baseline_rate * (1 - baseline_rate) + target_rate * (1 - target_rate)
    return max(MINIMUM_UNITS_PER_ARM, math.ceil(z**2 * variance_sum / absolute_effect**2))


def _t_test_power(executions_per_arm: int, standardized_effect: float, alpha: float) -> float:
    """Power of the two-sided two-sample t-test with equal arms and equal variances (noncentral t)."""
    dof = 2 * executions_per_arm - 2
    noncentrality = standardized_effect * math.sqrt(executions_per_arm / 2)
    critical = float(special.stdtrit(dof, 1.0 - alpha / 2.0))
    return float(special.nctdtr(dof, noncentrality, -critical) + 1.0 - special.nctdtr(dof, noncentrality, critical))


def executions_per_arm_for_mean(
    standard_deviation: float,
    absolute_effect: float,
    *,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    power: float = DEFAULT_POWER,
) -> int | None:
    """Executions per arm for Welch's test to detect a move of the mean by `absolute_effect` when the
    per-execution standard deviation is `standard_deviation`, with `power`. Starts from the normal
    approximation 2 sd^2 (z_{1-alpha/2} + z_power)^2 / effect^2 (research A8) and adds units until the exact
    power of the t-test (noncentral t) reaches `power`, so small samples are not under-powered (Cohen's
    tables: d = 0.5 needs 64, where the normal approximation says 63). None for an effect of 0; 2 when the
    standard deviation is 0."""
    if not math.isfinite(standard_deviation) or standard_deviation < 0 or not math.isfinite(absolute_effect):
        raise ValueError("The standard deviation must be a finite number >= 0 and the effect finite.")
    z = _z_for_power(confidence_level, power)
    if absolute_effect == 0:
        return None
    if standard_deviation == 0:
        return MINIMUM_UNITS_PER_ARM
    standardized_effect = abs(absolute_effect) / standard_deviation
    executions = max(MINIMUM_UNITS_PER_ARM, math.ceil(2 * z**2 / standardized_effect**2))
    alpha = 1.0 - confidence_level
    while _t_test_power(executions, standardized_effect, alpha) < power:
        executions += 1
    return executions


def more_executions_needed(required_per_arm: int | None, executions_per_arm: Sequence[int]) -> int | None:
    """How many more executions the smallest arm needs to reach `required_per_arm` (0 when every arm has
    them); None when nothing is required to be known (no effect to detect)."""
    if required_per_arm is None:
        return None
    return max(0, required_per_arm - min(executions_per_arm, default=0))


def always_valid_interval(
    estimate: float,
    standard_error: float,
    total_n: int,
    *,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    tuning_n: float = DEFAULT_SEQUENTIAL_TUNING_N,
) -> SequentialInterval | None:
    """GrowthBook's confidence sequence for an effect (research A4; Waudby-Smith et al. 2023, eq. 9, 155 and
    161): the normal-mixture boundary with rho tuned so the interval is tightest at `tuning_n` units (both
    arms). Unlike a fixed-horizon interval, stopping the first time it excludes 0 keeps the false-positive
    rate at most 1 - confidence_level. None without units or with a non-finite standard error."""
    alpha = _alpha(confidence_level)
    if not tuning_n > 0:
        raise ValueError(f"The tuning sample size must be positive (got {tuning_n!r}).")
    if total_n < 1 or not math.isfinite(standard_error) or standard_error < 0 or not math.isfinite(estimate):
        return None
    if standard_error == 0:
        return SequentialInterval(Interval(estimate, estimate), 0.0 if estimate != 0 else 1.0, total_n, tuning_n)
    log_alpha_term = -2.0 * math.log(alpha)
    rho_squared = (log_alpha_term + math.log(log_alpha_term + 1.0)) / tuning_n
    n = float(total_n)
    spread = n * rho_squared + 1.0
    half_width = (
        standard_error
        * math.sqrt(n)
        * math.sqrt(2.0 * spread / (n**2 * rho_squared) * math.log(math.sqrt(spread) / alpha))
    )
    # The e-value of the mixture martingale; its reciprocal is an always-valid p-value.
    statistic_squared = estimate**2 * n / standard_error**2
    log_e_value = rho_squared * statistic_squared / (2.0 * spread) - 0.5 * math.log(spread)
    p_value = 1.0 if log_e_value <= 0 else math.exp(-log_e_value)
    return SequentialInterval(Interval(estimate - half_width, estimate + half_width), p_value, total_n, tuning_n)


def sequential_difference(
    comparison: Comparison, *, tuning_n: float = DEFAULT_SEQUENTIAL_TUNING_N
) -> SequentialInterval | None:
    """The always-valid interval of a comparison's absolute difference, at its own confidence level; None
    when the comparison had not enough data."""
    if comparison.difference is None:
        return None
    return always_valid_interval(
        comparison.difference.estimate,
        comparison.difference.standard_error,
        comparison.control_n + comparison.variant_n,
        confidence_level=comparison.confidence_level,
        tuning_n=tuning_n,
    )


def sequential_test_may_stop(sequential: SequentialInterval | None) -> bool:
    """Whether an auto-stopping test may stop now: its always-valid interval excludes 0 (never without one)."""
    return sequential is not None and sequential.may_stop
