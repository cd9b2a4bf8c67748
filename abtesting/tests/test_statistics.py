"""The statistics of A/B results, each number checked against an independent computation written here (scipy,
or the formula written out) and against the gbstats reference outputs of research section 3.2, to the precision
printed there (abs 1e-9 or better)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from abtesting.statistics import (
    DEFAULT_SEQUENTIAL_TUNING_N,
    MeanSample,
    Method,
    ProportionSample,
    always_valid_interval,
    chance_to_beat_control,
    check_sample_ratio,
    compare_means,
    compare_proportions,
    executions_per_arm_for_mean,
    executions_per_arm_for_proportion,
    holm_adjust,
    mean_estimate,
    more_executions_needed,
    proportion_estimate,
    sequential_difference,
    sequential_test_may_stop,
)

REFERENCE = 1e-9  # research 3.2 prints gbstats' floats in full; we hold ourselves to 1e-9 of them


def mean_sample(n: int, mean: float, sd: float) -> MeanSample:
    """Sufficient statistics from a mean and a sample standard deviation (research 3.1's mean_stat)."""
    return MeanSample(n=n, sum_of_values=n * mean, sum_of_squares=(n - 1) * sd**2 + n * mean**2)


def welch_written_out(mean_a, var_a, n_a, mean_b, var_b, n_b, relative, alpha=0.05):
    """Research 3.4's crosscheck_scipy.welch: gbstats' TwoSidedTTest with plain scipy."""
    if relative:
        estimate = (mean_b - mean_a) / abs(mean_a)
        se2 = var_b / (mean_a**2 * n_b) + var_a * mean_b**2 / (mean_a**4 * n_a)
    else:
        estimate, se2 = mean_b - mean_a, var_b / n_b + var_a / n_a
    se = math.sqrt(se2)
    dof = (var_b / n_b + var_a / n_a) ** 2 / ((var_b / n_b) ** 2 / (n_b - 1) + (var_a / n_a) ** 2 / (n_a - 1))
    p = 2 * (1 - stats.t.cdf(abs(estimate / se), dof))
    half_width = stats.t.ppf(1 - alpha / 2, dof) * se
    return estimate, se, dof, p, (estimate - half_width, estimate + half_width)


def gb_sequential_written_out(estimate, se, n_total, alpha=0.05, tuning=5000):
    """Research 3.4's crosscheck_scipy.gb_sequential."""
    rho = math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning)
    n = n_total
    half_width = (
        se
        * math.sqrt(n)
        * math.sqrt(2 * (n * rho**2 + 1) * math.log(math.sqrt(n * rho**2 + 1) / alpha) / (n * rho) ** 2)
    )
    st2 = estimate**2 * n / se**2
    e_value = math.exp(rho**2 * st2 / (2 * (n * rho**2 + 1))) / math.sqrt(n * rho**2 + 1)
    return (estimate - half_width, estimate + half_width), min(1 / e_value, 1.0)


# --- Research 3.2, example 1: conversion 40/400 (10 %) against 64/400 (16 %) ---


def test_compare_proportions__research_example_1__absolute_matches_gbstats_1b_and_scipy():
    # When the variant's 64/400 is compared with the control's 40/400
    result = compare_proportions(ProportionSample(400, 40), ProportionSample(400, 64))
    # Then the absolute difference is gbstats' 1b
    assert result.enough_data
    assert result.method == Method.UNPOOLED_T
    assert result.difference.estimate == pytest.approx(0.06, abs=REFERENCE)
    assert result.difference.standard_error == pytest.approx(0.02368543856465402, abs=REFERENCE)
    assert result.difference.interval.lower == pytest.approx(0.013504112043554527, abs=REFERENCE)
    assert result.difference.interval.upper == pytest.approx(0.10649588795644546, abs=REFERENCE)
    assert result.p_value == pytest.approx(0.011500498730311115, abs=REFERENCE)
    assert result.degrees_of_freedom == pytest.approx(767.936, abs=5e-4)
    assert result.significant
    # And scipy's Welch test on per-unit standard deviations sqrt(p(1 - p)) agrees
    scipy_result = stats.ttest_ind_from_stats(
        0.16, math.sqrt(0.16 * 0.84), 400, 0.10, math.sqrt(0.10 * 0.90), 400, equal_var=False
    )
    assert result.p_value == pytest.approx(scipy_result.pvalue, abs=1e-12)
    # And the unpooled z-test it approximates is within 2e-4 (t with 768 dof is nearly normal)
    z_p_value = 2 * stats.norm.sf(0.06 / math.sqrt(0.1 * 0.9 / 400 + 0.16 * 0.84 / 400))
    assert result.p_value == pytest.approx(z_p_value, abs=2e-4)


def test_compare_proportions__research_example_1__relative_lift_matches_gbstats_1a():
    result = compare_proportions(ProportionSample(400, 40), ProportionSample(400, 64))
    lift = result.relative_lift
    assert lift.estimate == pytest.approx(0.6, abs=REFERENCE)
    assert lift.standard_error == pytest.approx(0.30199337741083, abs=REFERENCE)
    assert lift.interval.lower == pytest.approx(0.00716950621988155, abs=REFERENCE)
    assert lift.interval.upper == pytest.approx(1.1928304937801184, abs=REFERENCE)
    assert lift.p_value == pytest.approx(0.04729968147652608, abs=REFERENCE)
    # And research 3.4's plain scipy derivation agrees
    estimate, se, dof, p, (lower, upper) = welch_written_out(0.1, 0.09, 400, 0.16, 0.16 * 0.84, 400, relative=True)
    assert (lift.estimate, lift.standard_error, lift.p_value) == pytest.approx((estimate, se, p), abs=1e-12)
    assert (lift.interval.lower, lift.interval.upper) == pytest.approx((lower, upper), abs=1e-12)
    assert result.degrees_of_freedom == pytest.approx(dof, abs=1e-9)


def test_compare_proportions__research_example_1__chance_to_beat_control_matches_gbstats_1d_and_1f():
    result = compare_proportions(ProportionSample(400, 40), ProportionSample(400, 64))
    # Flat-prior chance to win: relative (1d) and absolute (1f), both norm.sf(0, estimate, se)
    assert result.relative_lift.chance_to_beat_control == pytest.approx(0.9765276365107591, abs=REFERENCE)
    assert result.difference.chance_to_beat_control == pytest.approx(0.9943487098468389, abs=REFERENCE)
    assert result.difference.chance_to_beat_control == pytest.approx(
        stats.norm.sf(0, 0.06, result.difference.standard_error), abs=1e-12
    )


def test_always_valid_interval__research_example_1__matches_gbstats_1c():
    # Given example 1's relative lift, 800 units in all, N* = 5000
    lift = compare_proportions(ProportionSample(400, 40), ProportionSample(400, 64)).relative_lift
    # When its confidence sequence is built
    sequential = always_valid_interval(lift.estimate, lift.standard_error, 800, tuning_n=5000)
    # Then it is gbstats' 1c: much wider than the fixed interval, and not significant
    assert sequential.interval.lower == pytest.approx(-0.45374350670105856, abs=REFERENCE)
    assert sequential.interval.upper == pytest.approx(1.6537435067010584, abs=REFERENCE)
    assert sequential.p_value == pytest.approx(0.49942649791810567, abs=REFERENCE)
    assert not sequential.may_stop
    (lower, upper), p = gb_sequential_written_out(lift.estimate, lift.standard_error, 800)
    assert (sequential.interval.lower, sequential.interval.upper, sequential.p_value) == pytest.approx(
        (lower, upper, p), abs=1e-12
    )


# --- Research 3.2, examples 2 and 3: means from sufficient statistics ---


def test_compare_means__research_example_2__matches_gbstats_2a_2b_2d_and_scipy():
    # Given satisfaction 3.80 (sd 1.10) against 3.95 (sd 1.00), 500 each
    result = compare_means(mean_sample(500, 3.80, 1.10), mean_sample(500, 3.95, 1.00))
    # Then the absolute difference is 2b
    assert result.method == Method.WELCH_T
    assert result.difference.estimate == pytest.approx(0.15000000000000036, abs=REFERENCE)
    assert result.difference.standard_error == pytest.approx(0.06648308055437865, abs=REFERENCE)
    assert result.difference.interval.lower == pytest.approx(0.019535905656439673, abs=REFERENCE)
    assert result.difference.interval.upper == pytest.approx(0.280464094343561, abs=REFERENCE)
    assert result.p_value == pytest.approx(0.02427498435301123, abs=REFERENCE)
    # And the relative lift is 2a, its chance to beat control 2d
    assert result.relative_lift.estimate == pytest.approx(0.03947368421052641, abs=REFERENCE)
    assert result.relative_lift.standard_error == pytest.approx(0.01787697145861148, abs=REFERENCE)
    assert result.relative_lift.interval.lower == pytest.approx(0.004392534668339297, abs=REFERENCE)
    assert result.relative_lift.interval.upper == pytest.approx(0.07455483375271352, abs=REFERENCE)
    assert result.relative_lift.p_value == pytest.approx(0.027467892533368454, abs=REFERENCE)
    assert result.relative_lift.chance_to_beat_control == pytest.approx(0.9863804586925565, abs=REFERENCE)
    # And scipy's Welch test agrees on p and dof
    scipy_result = stats.ttest_ind_from_stats(3.95, 1.00, 500, 3.80, 1.10, 500, equal_var=False)
    assert result.p_value == pytest.approx(scipy_result.pvalue, abs=1e-12)
    _estimate, _se, dof, _p, (low, high) = welch_written_out(3.80, 1.10**2, 500, 3.95, 1.00**2, 500, relative=False)
    assert result.degrees_of_freedom == pytest.approx(dof, abs=1e-9)
    assert (result.difference.interval.lower, result.difference.interval.upper) == pytest.approx((low, high), abs=1e-9)


def test_always_valid_interval__research_example_2__matches_gbstats_2c():
    lift = compare_means(mean_sample(500, 3.80, 1.10), mean_sample(500, 3.95, 1.00)).relative_lift
    sequential = always_valid_interval(lift.estimate, lift.standard_error, 1000)
    assert sequential.interval.lower == pytest.approx(-0.020662440653265855, abs=REFERENCE)
    assert sequential.interval.upper == pytest.approx(0.09960980907431868, abs=REFERENCE)
    assert sequential.p_value == pytest.approx(0.36050090482993263, abs=REFERENCE)


def test_compare_means__research_example_3_latency__matches_gbstats_3a_and_inverse_3b():
    # Given latency 1200 ms (sd 400) against 1250 ms (sd 450), where lower is better
    result = compare_means(mean_sample(1000, 1200.0, 400.0), mean_sample(1000, 1250.0, 450.0), higher_is_better=False)
    # Then the relative lift is 3a and the chance to beat the control 3b (the variant is worse)
    lift = result.relative_lift
    assert lift.estimate == pytest.approx(0.041666666666666664, abs=REFERENCE)
    assert lift.standard_error == pytest.approx(0.01616132023087651, abs=REFERENCE)
    assert lift.interval.lower == pytest.approx(0.009971596857806457, abs=REFERENCE)
    assert lift.interval.upper == pytest.approx(0.07336173647552688, abs=REFERENCE)
    assert lift.p_value == pytest.approx(0.010004440665244418, abs=REFERENCE)
    assert lift.chance_to_beat_control == pytest.approx(0.004966224251633178, abs=REFERENCE)
    # And the absolute difference is scipy's Welch test
    scipy_result = stats.ttest_ind_from_stats(1250.0, 450.0, 1000, 1200.0, 400.0, 1000, equal_var=False)
    assert result.p_value == pytest.approx(scipy_result.pvalue, abs=1e-12)
    assert result.difference.chance_to_beat_control == pytest.approx(
        stats.norm.cdf(0, 50.0, result.difference.standard_error), abs=1e-12
    )


# --- Clearly significant, clearly not, and small counts ---


def test_compare_proportions__clear_difference__significant_with_a_tiny_p():
    # Given 10 % against 13 % over 10,000 executions each
    result = compare_proportions(ProportionSample(10_000, 1_000), ProportionSample(10_000, 1_300))
    # Then it is significant, with the p of the unpooled z-test written out (t with ~19,500 dof is normal)
    se = math.sqrt(0.1 * 0.9 / 10_000 + 0.13 * 0.87 / 10_000)
    assert result.significant
    assert result.p_value < 1e-9
    assert result.p_value == pytest.approx(2 * stats.norm.sf(0.03 / se), rel=0.05)
    assert result.difference.interval.lower > 0
    assert result.difference.chance_to_beat_control > 0.999999


def test_compare_proportions__tiny_difference__not_significant():
    # Given 10.0 % against 10.1 % over 5,000 executions each
    result = compare_proportions(ProportionSample(5_000, 500), ProportionSample(5_000, 505))
    se = math.sqrt(0.1 * 0.9 / 5_000 + 0.101 * 0.899 / 5_000)
    assert not result.significant
    assert result.p_value == pytest.approx(2 * stats.norm.sf(0.001 / se), abs=1e-4)
    assert result.p_value > 0.8
    assert result.difference.interval.lower < 0 < result.difference.interval.upper


def test_compare_means__clear_and_no_difference__match_scipy():
    rng = np.random.default_rng(7)
    control, variant, same = rng.normal(10, 2, 3000), rng.normal(10.5, 2.5, 2500), rng.normal(10, 2, 2800)
    for other, expect_significant in ((variant, True), (same, False)):
        result = compare_means(
            MeanSample(control.size, control.sum(), (control**2).sum()),
            MeanSample(other.size, other.sum(), (other**2).sum()),
        )
        scipy_result = stats.ttest_ind(other, control, equal_var=False)
        assert result.p_value == pytest.approx(scipy_result.pvalue, rel=1e-6, abs=1e-12)
        assert result.significant is expect_significant


def test_compare_proportions__tiny_counts__fisher_exact_test():
    # Given 1/20 against 6/20: an expected count of events is 3.5, below 5
    result = compare_proportions(ProportionSample(20, 1), ProportionSample(20, 6))
    # Then the p-value is Fisher's exact test's, and the method says so
    assert result.method == Method.FISHER_EXACT
    assert result.p_value == pytest.approx(stats.fisher_exact([[6, 14], [1, 19]]).pvalue, abs=1e-12)
    assert result.difference.p_value == result.p_value
    assert result.significant is (result.p_value < 0.05)


def test_compare_proportions__expected_counts_at_least_five__no_fisher():
    # Expected events 5 in each arm (10 of 200): the normal approximation is allowed
    result = compare_proportions(ProportionSample(100, 4), ProportionSample(100, 6))
    assert result.method == Method.UNPOOLED_T


def test_compare_proportions__all_yes_against_all_no__fisher_not_a_division_by_zero():
    # Given arms with no spread at all (every execution succeeded, every one failed)
    result = compare_proportions(ProportionSample(50, 0), ProportionSample(50, 50))
    # Then Fisher's test answers, and the relative lift is undefined with a reason
    assert result.method == Method.FISHER_EXACT
    assert result.p_value == pytest.approx(stats.fisher_exact([[50, 0], [0, 50]]).pvalue, abs=1e-15)
    assert result.significant
    assert result.relative_lift is None
    assert "control" in result.relative_lift_reason
    assert result.difference.estimate == 1.0


def test_compare_proportions__all_successes_in_both_arms__no_difference_no_exception():
    result = compare_proportions(ProportionSample(30, 30), ProportionSample(40, 40))
    assert result.enough_data
    assert result.p_value == 1.0
    assert not result.significant
    assert result.relative_lift.estimate == 0.0
    assert result.degrees_of_freedom is None


@pytest.mark.parametrize(("control", "variant"), [((0, 0), (10, 3)), ((1, 1), (10, 3)), ((10, 3), (0, 0))])
def test_compare_proportions__fewer_than_two_executions__not_enough_data(control, variant):
    result = compare_proportions(ProportionSample(*control), ProportionSample(*variant))
    assert not result.enough_data
    assert "at least 2" in result.reason
    assert result.p_value is None
    assert result.difference is None
    assert not result.significant


def test_compare_means__no_spread__exact_difference_not_nan():
    # Given every value the same within each arm
    same = compare_means(MeanSample(10, 50.0, 250.0), MeanSample(12, 60.0, 300.0))
    different = compare_means(MeanSample(10, 50.0, 250.0), MeanSample(12, 72.0, 432.0))
    # Then: no difference gives p 1; a difference, p 0 with a point interval; nothing is NaN
    assert (same.p_value, same.significant) == (1.0, False)
    assert (different.p_value, different.significant) == (0.0, True)
    assert different.difference.interval.lower == different.difference.interval.upper == 1.0
    assert different.degrees_of_freedom is None


def test_compare_means__one_arm_without_spread__welch_dof_is_the_other_arms():
    # Welch-Satterthwaite with one variance 0 reduces to the other arm's n - 1
    values = np.array([1.0, 2.0, 4.0, 8.0])
    result = compare_means(MeanSample(5, 15.0, 45.0), MeanSample(4, values.sum(), (values**2).sum()))
    assert result.degrees_of_freedom == pytest.approx(3.0)
    scipy_result = stats.ttest_ind_from_stats(values.mean(), values.std(ddof=1), 4, 3.0, 0.0, 5, equal_var=False)
    assert result.p_value == pytest.approx(scipy_result.pvalue, abs=1e-12)


def test_compare_means__one_execution__not_enough_data():
    result = compare_means(MeanSample(1, 3.0, 9.0), MeanSample(5, 20.0, 90.0))
    assert not result.enough_data
    assert result.control_mean == 3.0
    assert result.p_value is None


def test_compare_means__control_mean_zero__relative_lift_undefined():
    result = compare_means(MeanSample(4, 0.0, 8.0), MeanSample(4, 4.0, 12.0))
    assert result.relative_lift is None
    assert "relative change is undefined" in result.relative_lift_reason
    assert result.difference is not None


def test_compare__same_data_twice__same_result():
    first = compare_proportions(ProportionSample(1234, 321), ProportionSample(1200, 350))
    assert compare_proportions(ProportionSample(1234, 321), ProportionSample(1200, 350)) == first


def test_chance_to_beat_control__no_spread__certain_or_even():
    assert chance_to_beat_control(0.1, 0.0) == 1.0
    assert chance_to_beat_control(-0.1, 0.0) == 0.0
    assert chance_to_beat_control(0.0, 0.0) == 0.5
    assert chance_to_beat_control(0.1, 0.0, higher_is_better=False) == 0.0


# --- Per-variant figures ---


@pytest.mark.parametrize(("events", "n"), [(40, 400), (64, 400), (0, 25), (25, 25), (1, 1), (3, 7)])
def test_proportion_estimate__wilson_interval__matches_scipy(events, n):
    result = proportion_estimate(ProportionSample(n, events))
    expected = stats.binomtest(events, n).proportion_ci(0.95, method="wilson")
    assert result.value == events / n
    assert result.interval.lower == pytest.approx(expected.low, abs=1e-12)
    assert result.interval.upper == pytest.approx(expected.high, abs=1e-12)


def test_proportion_estimate__research_values__match_section_3_3():
    wilson_40 = proportion_estimate(ProportionSample(400, 40)).interval
    assert wilson_40.lower == pytest.approx(0.07429925914003438, abs=1e-12)
    assert wilson_40.upper == pytest.approx(0.13331057632740284, abs=1e-12)
    wilson_64 = proportion_estimate(ProportionSample(400, 64)).interval
    assert (round(wilson_64.lower, 5), round(wilson_64.upper, 5)) == (0.12733, 0.19914)


def test_proportion_estimate__no_executions__not_enough_data():
    result = proportion_estimate(ProportionSample(0, 0))
    assert (result.value, result.interval, result.enough_data) == (None, None, False)


def test_mean_estimate__t_interval__matches_scipy():
    values = np.array([812.0, 1030.5, 640.2, 990.0, 1204.8, 700.1, 655.0])
    result = mean_estimate(MeanSample(values.size, values.sum(), (values**2).sum()), confidence_level=0.9)
    low, high = stats.t.interval(0.9, values.size - 1, loc=values.mean(), scale=stats.sem(values))
    assert result.value == pytest.approx(values.mean(), abs=1e-9)
    assert result.interval.lower == pytest.approx(low, abs=1e-7)
    assert result.interval.upper == pytest.approx(high, abs=1e-7)


def test_mean_estimate__one_or_no_execution__value_without_interval():
    one = mean_estimate(MeanSample(1, 4.5, 20.25))
    none = mean_estimate(MeanSample(0, 0.0, 0.0))
    assert (one.value, one.interval, one.enough_data) == (4.5, None, False)
    assert (none.value, none.interval, none.enough_data) == (None, None, False)


def test_mean_estimate__no_spread__point_interval():
    result = mean_estimate(MeanSample(3, 6.0, 12.0))
    assert (result.interval.lower, result.interval.upper) == (2.0, 2.0)


# --- Holm ---


def holm_written_out(p_values):
    """Holm's step-down from its definition: the i-th smallest p (from 1) becomes max over j <= i of
    min(1, (m - j + 1) p_(j))."""
    m = len(p_values)
    order = sorted(range(m), key=lambda index: p_values[index])
    adjusted, running = [0.0] * m, 0.0
    for rank, index in enumerate(order, start=1):
        running = max(running, min(1.0, (m - rank + 1) * p_values[index]))
        adjusted[index] = running
    return adjusted


def test_holm_adjust__research_reference__matches():
    assert holm_adjust([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2], abs=1e-15)


def test_holm_adjust__random_p_values__match_the_definition():
    rng = np.random.default_rng(3)
    for size in (1, 2, 5, 17):
        p_values = list(rng.uniform(0, 0.3, size))
        assert holm_adjust(p_values) == pytest.approx(holm_written_out(p_values), abs=1e-15)


def test_holm_adjust__empty_and_capped():
    assert holm_adjust([]) == []
    assert holm_adjust([0.5, 0.6]) == [1.0, 1.0]


@pytest.mark.parametrize("p_values", [[0.1, 1.2], [-0.1], [float("nan")]])
def test_holm_adjust__not_p_values__value_error(p_values):
    with pytest.raises(ValueError, match="between 0 and 1"):
        holm_adjust(p_values)


# --- Sample ratio mismatch ---


def test_check_sample_ratio__5000_against_5400_in_a_50_50_test__flagged():
    result = check_sample_ratio([5000, 5400], [50, 50])
    assert result.checked
    assert result.mismatch
    assert result.p_value == pytest.approx(stats.chisquare([5000, 5400], [5200, 5200]).pvalue, rel=1e-9)
    assert result.p_value < 0.001


def test_check_sample_ratio__5000_against_5050__not_flagged():
    result = check_sample_ratio([5000, 5050], [50, 50])
    assert result.checked
    assert not result.mismatch
    assert result.p_value == pytest.approx(stats.chisquare([5000, 5050], [5025, 5025]).pvalue, abs=1e-12)


@pytest.mark.parametrize(
    ("observed", "percentages", "gbstats_p_value"),
    [
        ([400, 400], [50, 50], 1.0),
        ([5000, 5200], [50, 50], 0.0476703806561615),
        ([4850, 5150], [50, 50], 0.0026997960632601883),
        ([1000, 1100, 1000], [100 / 3, 100 / 3, 100 / 3], 0.039723733386441),
    ],
)
def test_check_sample_ratio__research_table__matches_gbstats_check_srm(observed, percentages, gbstats_p_value):
    result = check_sample_ratio(observed, percentages)
    assert result.p_value == pytest.approx(gbstats_p_value, abs=1e-12)
    assert not result.mismatch


def test_check_sample_ratio__uneven_split__uses_the_configured_shares():
    result = check_sample_ratio([1800, 3300, 4900], [20, 30, 50])
    expected = stats.chisquare([1800, 3300, 4900], [2000, 3000, 5000])
    assert result.chi_square == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.mismatch


def test_check_sample_ratio__expected_count_below_five__not_checked():
    # Given 8 subjects in a 50/50 test, all in one arm: expected 4 per arm
    result = check_sample_ratio([8, 0], [50, 50])
    # Then the chi-square approximation is not trusted: no verdict either way
    assert not result.checked
    assert not result.mismatch
    assert result.p_value is None
    assert "at least 5" in result.reason


def test_check_sample_ratio__subjects_in_a_zero_percent_variant__mismatch():
    result = check_sample_ratio([500, 3, 500], [50, 0, 50])
    assert result.mismatch
    assert result.p_value == 0.0


def test_check_sample_ratio__zero_percent_variant_empty__left_out_of_the_test():
    result = check_sample_ratio([500, 0, 520], [50, 0, 50])
    assert result.p_value == pytest.approx(stats.chisquare([500, 520], [510, 510]).pvalue, abs=1e-12)


def test_check_sample_ratio__counts_do_not_match_variants__value_error():
    with pytest.raises(ValueError, match="3 observed counts for 2 variants"):
        check_sample_ratio([1, 2, 3], [50, 50])


# --- Power ---


def normal_power(per_arm, p1, p2, alpha=0.05):
    """Two-sided power of the unpooled z-test (research A8): 1 - Phi(z - effect/sigma) + Phi(-z - effect/sigma)."""
    sigma = math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / per_arm)
    z = stats.norm.ppf(1 - alpha / 2)
    return stats.norm.sf(z - abs(p2 - p1) / sigma) + stats.norm.cdf(-z - abs(p2 - p1) / sigma)


def test_executions_per_arm_for_proportion__10_to_12_percent__research_value():
    # Research A8: 10 % -> 12 % "needs 3,838 per arm" (3838.1, rounded); we round up to reach the power
    formula = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) ** 2 * (0.1 * 0.9 + 0.12 * 0.88) / 0.02**2
    assert formula == pytest.approx(3838.1, abs=0.05)
    assert executions_per_arm_for_proportion(0.10, 0.02) == math.ceil(formula) == 3839
    # And that is the smallest n with 80 % power
    assert normal_power(3839, 0.10, 0.12) >= 0.8 > normal_power(3838, 0.10, 0.12)


def test_executions_per_arm_for_proportion__research_worked_example__490_per_arm():
    # Research A8: the observed 10 % -> 16 % needs 490 per arm, and at 400 per arm the power is 0.717
    assert executions_per_arm_for_proportion(0.10, 0.06) == 490
    assert normal_power(400, 0.10, 0.16) == pytest.approx(0.717, abs=5e-4)


def test_executions_per_arm_for_proportion__negative_effect__same_as_positive_distance():
    assert executions_per_arm_for_proportion(0.12, -0.02) == executions_per_arm_for_proportion(0.10, 0.02)


def t_test_power_scipy(per_arm, effect_size, alpha=0.05):
    dof = 2 * per_arm - 2
    noncentrality = effect_size * math.sqrt(per_arm / 2)
    critical = stats.t.ppf(1 - alpha / 2, dof)
    return stats.nct.sf(critical, dof, noncentrality) + stats.nct.cdf(-critical, dof, noncentrality)


@pytest.mark.parametrize(("effect_size", "textbook"), [(0.5, 64), (0.8, 26)])
def test_executions_per_arm_for_mean__cohens_table__matches(effect_size, textbook):
    # Cohen (1988), table 2.4.1, two-sided alpha .05, power .80: d = 0.5 needs 64 per group, d = 0.8 needs 26
    assert executions_per_arm_for_mean(1.0, effect_size) == textbook
    assert t_test_power_scipy(textbook, effect_size) >= 0.8 > t_test_power_scipy(textbook - 1, effect_size)


def test_executions_per_arm_for_mean__research_satisfaction_example__exact_t_one_more_than_normal():
    # Research A8: sigma 1.05, delta 0.19 gives 480 per arm by the normal approximation
    normal = 2 * 1.05**2 * (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) ** 2 / 0.19**2
    assert math.ceil(normal) == 480
    # The exact t-test needs one more
    result = executions_per_arm_for_mean(1.05, 0.19)
    assert result == 481
    assert t_test_power_scipy(481, 0.19 / 1.05) >= 0.8 > t_test_power_scipy(480, 0.19 / 1.05)


def test_executions_per_arm__no_effect_or_no_spread__none_or_minimum():
    assert executions_per_arm_for_proportion(0.1, 0.0) is None
    assert executions_per_arm_for_mean(2.0, 0.0) is None
    assert executions_per_arm_for_mean(0.0, 1.0) == 2


def test_executions_per_arm_for_proportion__rate_outside_zero_one__value_error():
    with pytest.raises(ValueError, match="between 0 and 1"):
        executions_per_arm_for_proportion(0.95, 0.1)


def test_more_executions_needed__smallest_arm_decides():
    assert more_executions_needed(490, [400, 450]) == 90
    assert more_executions_needed(490, [500, 600]) == 0
    assert more_executions_needed(None, [10, 10]) is None


# --- Sequential testing ---


def test_always_valid_interval__wider_than_fixed_and_shrinks_with_n():
    # Same standard error per unit (sd 1), more units: the interval narrows, and it is always wider than the
    # fixed-horizon one at the same n
    previous_width = math.inf
    for total_n in (100, 1000, 10_000, 100_000):
        se = math.sqrt(2 / (total_n / 2))
        sequential = always_valid_interval(0.0, se, total_n)
        width = sequential.interval.upper - sequential.interval.lower
        assert width > 2 * stats.norm.ppf(0.975) * se
        assert width < previous_width
        previous_width = width


def test_always_valid_interval__no_units_or_no_spread__none_or_point():
    assert always_valid_interval(0.1, 0.05, 0) is None
    assert always_valid_interval(0.1, math.nan, 100) is None
    point = always_valid_interval(0.1, 0.0, 100)
    assert (point.interval.lower, point.interval.upper, point.p_value, point.may_stop) == (0.1, 0.1, 0.0, True)


def test_sequential_difference__uses_the_comparisons_difference_and_total_n():
    comparison = compare_proportions(ProportionSample(3000, 300), ProportionSample(3000, 390))
    sequential = sequential_difference(comparison, tuning_n=6000)
    (lower, upper), p = gb_sequential_written_out(
        comparison.difference.estimate, comparison.difference.standard_error, 6000, tuning=6000
    )
    assert (sequential.interval.lower, sequential.interval.upper, sequential.p_value) == pytest.approx(
        (lower, upper, p), abs=1e-12
    )
    assert sequential_test_may_stop(sequential) is (lower > 0 or upper < 0)


def test_sequential_difference__not_enough_data__may_not_stop():
    comparison = compare_proportions(ProportionSample(1, 1), ProportionSample(1, 0))
    assert sequential_difference(comparison) is None
    assert not sequential_test_may_stop(None)


SIMULATIONS, LOOKS, PER_LOOK, RATE = 1500, 20, 250, 0.10


def simulate_looks(rng, control_rate, variant_rate):
    """Cumulative events per arm at each of LOOKS looks, PER_LOOK new executions per arm between looks."""
    control = rng.binomial(PER_LOOK, control_rate, size=(SIMULATIONS, LOOKS)).cumsum(axis=1)
    variant = rng.binomial(PER_LOOK, variant_rate, size=(SIMULATIONS, LOOKS)).cumsum(axis=1)
    return control, variant


def stop_rates(control, variant, tuning_n):
    """For each simulated experiment: did the sequential rule ever stop, did naive peeking (fixed-horizon
    p < 0.05 at any look) ever stop, and was the fixed-horizon test at the last look significant?"""
    sequential_stops = naive_stops = final_significant = 0
    for control_events, variant_events in zip(control, variant, strict=True):
        sequential_stopped = naive_stopped = False
        for look in range(LOOKS):
            n = PER_LOOK * (look + 1)
            comparison = compare_proportions(
                ProportionSample(n, int(control_events[look])), ProportionSample(n, int(variant_events[look]))
            )
            naive_stopped = naive_stopped or comparison.significant
            sequential_stopped = sequential_stopped or sequential_test_may_stop(
                sequential_difference(comparison, tuning_n=tuning_n)
            )
        sequential_stops += sequential_stopped
        naive_stops += naive_stopped
        final_significant += comparison.significant
    return sequential_stops / SIMULATIONS, naive_stops / SIMULATIONS, final_significant / SIMULATIONS


def test_sequential_auto_stop__a_a_test_watched_at_20_looks__false_positives_at_most_5_percent():
    # Given 1,500 A/A experiments (10 % in both arms), looked at 20 times, 250 new executions per arm each time,
    # with N* the planned total sample (research 5.1)
    rng = np.random.default_rng(20240601)
    control, variant = simulate_looks(rng, RATE, RATE)
    # When each stops at the first look where the always-valid interval excludes 0, or at the first look where
    # the fixed-horizon p-value is below 0.05
    sequential, naive, final = stop_rates(control, variant, tuning_n=2 * PER_LOOK * LOOKS)
    # Then the always-valid rule keeps false positives at or below 5 %, while naive peeking exceeds it by far
    # (research A4 measured 22 % at 14 looks); the fixed test at the last look alone stays near 5 %
    # (binomial noise of 1,500 draws: sd 0.56 points)
    assert sequential <= 0.05
    assert naive > 0.15
    assert 0.03 < final < 0.07


def test_sequential_auto_stop__real_difference__stops_in_most_experiments():
    # Given a real lift, 10 % -> 12.5 %: the always-valid rule is not just a rule that never stops
    rng = np.random.default_rng(11)
    control, variant = simulate_looks(rng, RATE, 0.125)
    sequential, _naive, final = stop_rates(control, variant, tuning_n=DEFAULT_SEQUENTIAL_TUNING_N)
    assert sequential > 0.8
    assert final > 0.9


# --- Input validation ---


@pytest.mark.parametrize(("n", "events"), [(-1, 0), (5, 6), (5, -1), (5.0, 1)])
def test_proportion_sample__impossible_counts__value_error(n, events):
    with pytest.raises(ValueError, match=r"events|integers"):
        ProportionSample(n, events)


def test_mean_sample__non_finite_sums__value_error():
    with pytest.raises(ValueError, match="finite"):
        MeanSample(3, math.inf, 1.0)


@pytest.mark.parametrize("confidence_level", [0.0, 1.0, 1.5, -0.2])
def test_compare_proportions__confidence_level_outside_zero_one__value_error(confidence_level):
    with pytest.raises(ValueError, match="confidence level"):
        compare_proportions(ProportionSample(10, 5), ProportionSample(10, 6), confidence_level=confidence_level)


def test_compare_proportions__confidence_level__changes_interval_and_decision():
    # p = 0.0115 (example 1): significant at 95 %, not at 99 %
    at_99 = compare_proportions(ProportionSample(400, 40), ProportionSample(400, 64), confidence_level=0.99)
    scipy_dof = 767.936099950465
    half_width = stats.t.ppf(0.995, scipy_dof) * 0.02368543856465402
    assert at_99.difference.interval.lower == pytest.approx(0.06 - half_width, abs=1e-9)
    assert not at_99.significant
