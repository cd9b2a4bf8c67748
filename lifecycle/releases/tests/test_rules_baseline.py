"""previous_version rules: the baseline from the version that served before, frozen at first use, and the
one-sided test against the shifted null (research 5.2), each number checked against an independent
computation with numpy and scipy from the executions' own outcomes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from lifecycle.releases.rules.models import Alert, TriggerState
from lifecycle.releases.tests.test_rules_helpers import clock_fixture, evaluations, live_fixture, report  # noqa: F401

pytestmark = pytest.mark.django_db

ERROR_RATE_UP_50 = {
    "metric": "error_rate",
    "operator": "gt",
    "threshold": 50,
    "baseline": "previous_version",
    "consecutive_breaches": 1,
    "min_executions": 100,
    "action": "alert",  # alpha 0.05 one-sided
}


def switch(live, baseline_count: int, baseline_failures: int, **kwargs):
    """The version `live` serves ran `baseline_count` executions, then the next version replaced it."""
    after = live.next_version()
    report(live.version, baseline_count, start=live.at, end=after.at, failures=baseline_failures, **kwargs)
    return after


def relative_test(candidate: np.ndarray, baseline: np.ndarray, margin: float, alpha: float) -> dict[str, float]:
    """The relative difference of two means and its one-sided test against `margin` (gbstats' delta method,
    Welch-Satterthwaite dof), from the raw outcomes."""
    mc, mb = candidate.mean(), baseline.mean()
    vc, vb = candidate.var(), baseline.var()  # per-unit variance of a proportion: p(1 - p), no n/(n - 1)
    nc, nb = candidate.size, baseline.size
    estimate = (mc - mb) / abs(mb)
    se = math.sqrt(vc / (mb**2 * nc) + vb * mc**2 / (mb**4 * nb))
    dof = (vc / nc + vb / nb) ** 2 / ((vc / nc) ** 2 / (nc - 1) + (vb / nb) ** 2 / (nb - 1))
    return {
        "estimate": estimate,
        "p": stats.t.sf((estimate - margin) / se, dof),
        "bound": estimate - stats.t.ppf(1 - alpha, dof) * se,
    }


def outcomes(count: int, failures: int) -> np.ndarray:
    return np.array([1.0] * failures + [0.0] * (count - failures))


def test_previous_version__real_regression__fires_with_the_test_statistic_of_scipy(live):
    # Given 4 % errors before the switch and 20 % after: +400 %
    after = switch(live, 500, 20)
    report(after.version, 500, start=after.minute(0), end=after.minute(10), failures=100)
    rule = after.rule(**ERROR_RATE_UP_50)
    # When evaluated
    result = after.evaluate(10)
    # Then it breaches and fires, with the numbers an independent computation gives
    (row,) = evaluations(rule)
    expected = relative_test(outcomes(500, 100), outcomes(500, 20), 0.5, 0.05)
    assert (row.status, row.decision) == ("breach", "fire")
    assert (row.observed, row.baseline_value, row.sample_size, row.baseline_size) == (20.0, 4.0, 500, 500)
    assert row.estimate == pytest.approx(expected["estimate"], abs=1e-12)
    assert row.p_value == pytest.approx(expected["p"], rel=1e-9)
    assert row.bound == pytest.approx(expected["bound"], rel=1e-9)
    assert row.bound > 0.5
    assert row.alpha == 0.05
    (alert,) = result.alerts
    assert "error_rate > +50 % vs previous version over 15m (observed 20 % vs 4 % before, +400 %" in alert.summary
    assert alert.evidence["baseline"]["n"] == 500


def test_previous_version__noise_past_the_margin__does_not_fire_without_significance(live):
    # Given 4 % errors before (20 of 500) and 6.5 % after (13 of 200): +62 % by the point estimate, which
    # such samples give by chance
    after = switch(live, 500, 20)
    report(after.version, 200, start=after.minute(0), end=after.minute(10), failures=13)
    significant = after.rule(**ERROR_RATE_UP_50)
    pointwise = after.rule(**{**ERROR_RATE_UP_50, "require_significance": False})
    after.evaluate(10)
    expected = relative_test(outcomes(200, 13), outcomes(500, 20), 0.5, 0.05)
    assert expected["estimate"] > 0.5
    assert expected["bound"] < 0.5
    assert expected["p"] > 0.05
    # Then the rule that needs its bound to clear +50 % sees no breach (a plain ok: not recorded)
    assert evaluations(significant) == []
    assert TriggerState.objects.get(rule=significant).streak == 0
    # while the same rule judged on its point estimate alone (Argo style) breaches
    (row,) = evaluations(pointwise)
    assert row.status == "breach"
    assert row.p_value == pytest.approx(expected["p"], rel=1e-9)


def test_previous_version__noisy_baseline__many_evaluations_of_no_change_never_fire(live):
    # Given the same 5 % error rate before and after, reported in ten batches evaluated one by one
    rng = np.random.default_rng(11)
    after = switch(live, 400, int(rng.binomial(400, 0.05)))
    rule = after.rule(**{**ERROR_RATE_UP_50, "window_minutes": 2, "action": "rollback"})  # alpha 0.01
    for minute in range(1, 11):
        report(
            after.version,
            150,
            start=after.minute(minute - 1),
            end=after.minute(minute),
            failures=int(rng.binomial(150, 0.05)),
        )
        after.evaluate(minute)
    assert all(row.status != "breach" for row in evaluations(rule))
    assert not Alert.objects.exists()


def test_previous_version__baseline_frozen_at_first_use(live):
    after = switch(live, 500, 20)
    report(after.version, 500, start=after.minute(0), end=after.minute(10), failures=100)
    rule = after.rule(**{**ERROR_RATE_UP_50, "consecutive_breaches": 5})
    after.evaluate(10)
    frozen = TriggerState.objects.get(rule=rule).baseline
    assert frozen["measurement"]["n"] == 500
    # When late reports of the old version arrive, timed before the switch
    report(live.version, 500, start=live.at, end=after.at, failures=500)
    after.evaluate(11)
    # Then the baseline stays what it was at first use
    later = evaluations(rule)[-1]
    assert (later.baseline_value, later.baseline_size) == (4.0, 500)
    assert TriggerState.objects.get(rule=rule).baseline == frozen


def test_previous_version__baseline_too_small__insufficient_data(live):
    after = switch(live, 60, 3)
    report(after.version, 500, start=after.minute(0), end=after.minute(10), failures=250)
    rule = after.rule(**ERROR_RATE_UP_50)
    after.evaluate(10)
    (row,) = evaluations(rule)
    assert (row.status, row.baseline_size) == ("insufficient_data", 60)
    assert "baseline" in row.detail["reason"]
    assert not Alert.objects.exists()


def test_previous_version__no_previous_deployment__insufficient_data(live):
    report(live.version, 500, start=live.minute(0), end=live.minute(10), failures=250)
    rule = live.rule(**ERROR_RATE_UP_50)
    live.evaluate(10)
    (row,) = evaluations(rule)
    assert row.status == "insufficient_data"
    assert "no previous deployment" in row.detail["reason"]


def test_previous_version__baseline_without_errors__percentage_point_fallback_said_in_the_evidence(live):
    after = switch(live, 500, 0)
    report(after.version, 500, start=after.minute(0), end=after.minute(10), failures=300)  # 60 %
    rule = after.rule(**ERROR_RATE_UP_50)
    result = after.evaluate(10)
    (row,) = evaluations(rule)
    # 60 percentage points up, tested against 50 points: one-sided t on the absolute difference
    p = 0.6
    se = math.sqrt(p * (1 - p) / 500)
    dof = 499  # the baseline has no variance: Welch's dof is the candidate's
    assert row.status == "breach"
    assert row.estimate == pytest.approx(60.0)
    assert row.p_value == pytest.approx(stats.t.sf((0.6 - 0.5) / se, dof), rel=1e-9)
    assert "percentage points" in row.detail["fallback"]
    assert "percentage points" in result.alerts[0].evidence["evaluations"][0]["detail"]["fallback"]


def test_previous_version__p95__binomial_quantile_test_as_scipy_computes_it(live):
    rng = np.random.default_rng(3)
    before = rng.uniform(1000, 2000, size=400).round(1)  # p95 about 1,950 ms
    after = switch(live, 400, 0, response_times=list(before))
    now = np.concatenate([rng.uniform(1000, 2000, size=300), rng.uniform(4000, 6000, size=100)]).round(1)
    report(after.version, 400, start=after.minute(0), end=after.minute(10), response_times=list(now))
    rule = after.rule(
        metric="p95_response_time", operator="gt", threshold=50, baseline="previous_version", consecutive_breaches=1
    )
    after.evaluate(10)
    (row,) = evaluations(rule)
    baseline_p95 = row.baseline_value
    assert abs(baseline_p95 - float(np.percentile(before, 95, method="inverted_cdf"))) <= 0.01 * baseline_p95
    # H0: the candidate's p95 is at most the baseline's + 50 %
    expected = stats.quantile_test(now, q=baseline_p95 * 1.5, p=0.95, alternative="greater")
    assert row.status == "breach"
    assert row.p_value == pytest.approx(expected.pvalue, rel=1e-9)


@pytest.mark.parametrize("metric", ["average_cost", "average_satisfaction"])
def test_previous_version__means__welch_t_on_the_relative_difference(live, metric):
    # Given costs doubled, or satisfaction halved, after the switch
    rng = np.random.default_rng(8)
    if metric == "average_cost":
        before, now, operator = rng.gamma(4, 0.001, size=300).round(6), rng.gamma(4, 0.002, size=300).round(6), "gt"
        values = {"cost": lambda sample: [float(value) for value in sample]}
    else:
        before, now, operator = rng.integers(3, 6, size=300), rng.integers(1, 4, size=300), "lt"
        values = {"satisfaction": lambda sample: [int(value) for value in sample]}
    ((name, convert),) = values.items()
    after = live.next_version()
    report(live.version, 300, start=live.at, end=after.at, **{name: convert(before)})
    report(after.version, 300, start=after.minute(0), end=after.minute(10), **{name: convert(now)})
    rule = after.rule(
        metric=metric, operator=operator, threshold=20, baseline="previous_version", consecutive_breaches=1
    )
    # When evaluated (a 15-minute window: read raw whole, so its variance is the sample's)
    after.evaluate(10)
    # Then the relative difference is tested with its delta-method SE and Welch's dof
    (row,) = evaluations(rule)
    mc, mb = now.mean(), before.mean()
    vc, vb = now.var(ddof=1), before.var(ddof=1)
    estimate = (mc - mb) / mb
    se = math.sqrt(vc / (mb**2 * 300) + vb * mc**2 / (mb**4 * 300))
    dof = (vc / 300 + vb / 300) ** 2 / ((vc / 300) ** 2 / 299 + (vb / 300) ** 2 / 299)
    p = stats.t.sf((estimate - 0.2) / se, dof) if operator == "gt" else stats.t.cdf((estimate + 0.2) / se, dof)
    assert row.status == "breach"
    assert p < 0.05
    assert row.estimate == pytest.approx(estimate, rel=1e-9)
    assert row.p_value == pytest.approx(p, rel=1e-6)
    assert row.detail["varianceFrom"] == {"window": 300, "baseline": 300}
