"""Tests that stop by themselves (`autoStop`): only once the always-valid interval of the primary metric
names a clear answer, with every arm past its minimum sample and the subjects' ratio as configured; the
beat's task completes them with the winner. Tests without autoStop, or without a clear answer, run on."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from abtesting import results as results_module
from abtesting.models import ABTest
from abtesting.results import clear_winner, results_of
from abtesting.selectors import VariantNumbers
from abtesting.services import stop_clear_tests
from abtesting.tasks import stop_ended_tests_task
from abtesting.tests import test_results
from abtesting.tests.test_results import rows_for
from analytics import histogram
from analytics.aggregates import STAT_FIELDS
from analytics.selectors import Totals
from lifecycle.testing.executions import store

pytestmark = pytest.mark.django_db

running = test_results.running  # the results' fixture: a test started three and a half hours ago


def report(test, versions, start, conversions: tuple[float, float], count: int = 600) -> None:
    now = timezone.now()
    for index, (version, rate) in enumerate(zip(versions, conversions, strict=True)):
        store(
            rows_for(
                version, count, start=start + timedelta(minutes=1), end=now, conversion=rate, seed=index + 1, test=test
            )
        )


def test_auto_stop__clear_winner__completed_with_it_by_the_beat_task(running):
    test, versions, start = running(auto_stop=True)
    report(test, versions, start, (0.10, 0.40))
    test.refresh_from_db()
    # The results name it clearly (the always-valid interval excludes 0)
    assert clear_winner(results_of(test, now=timezone.now())) == "variant-a"
    assert stop_ended_tests_task.delay().get() == 1
    test.refresh_from_db()
    assert (test.state, test.winner, test.stopped_by) == ("completed", "variant-a", None)
    assert "always-valid" in test.stop_reason
    assert stop_clear_tests() == []  # once


def test_auto_stop__control_clearly_better__completed_with_the_control(running):
    test, versions, start = running(auto_stop=True)
    report(test, versions, start, (0.40, 0.10))
    assert stop_clear_tests() == [test.pk]
    test.refresh_from_db()
    assert test.winner == "control"


def test_auto_stop__no_real_difference__runs_on(running):
    test, versions, start = running(auto_stop=True)
    report(test, versions, start, (0.20, 0.20))
    assert stop_clear_tests() == []
    assert ABTest.objects.get(pk=test.pk).state == "running"


def test_auto_stop__below_the_minimum_sample__runs_on_however_clear(running):
    test, versions, start = running(auto_stop=True, minimum_sample_size=1000)
    report(test, versions, start, (0.10, 0.40))
    assert stop_clear_tests() == []


def test_auto_stop__not_asked__runs_on_however_clear(running):
    test, versions, start = running()
    report(test, versions, start, (0.10, 0.40))
    assert stop_clear_tests() == []
    assert ABTest.objects.get(pk=test.pk).state == "running"


def test_auto_stop__a_a_tests_watched_every_tick__stop_with_a_variant_at_most_5_percent(running, monkeypatch):
    # Given 200 A/A tests (both arms convert at 10 %), each looked at by the auto-stop's own decision
    # (results_of, then clear_winner, as the beat task does) at 20 ticks with 250 new executions per arm each:
    # the tests' sums are fed to the results where the rollups' would be
    test, _, _ = running(auto_stop=True)
    rng = np.random.default_rng(20261129)
    simulations, looks, per_look, rate = 200, 20, 250, 0.10
    fields = {name: index for index, name in enumerate(STAT_FIELDS)}
    current: dict[str, VariantNumbers] = {}
    monkeypatch.setattr(results_module, "variant_numbers", lambda test, now: current)

    def numbers(executions: int, conversions: int) -> VariantNumbers:
        sums = np.zeros(len(STAT_FIELDS))
        sums[fields["executions"]] = sums[fields["successes"]] = executions
        sums[fields["conversions"]] = sums[fields["conversion_reports"]] = conversions
        sums[fields["response_time_sum"]] = 1000.0 * executions
        sums[fields["response_time_sq"]] = 1000.0**2 * executions + 100.0**2 * executions
        return VariantNumbers(Totals(sums), histogram.empty(), subjects=executions)

    # When each test stops at the first tick where clear_winner names an answer
    stopped_with_variant = stopped_with_control = 0
    for _ in range(simulations):
        control = np.cumsum(rng.binomial(per_look, rate, size=looks))
        variant = np.cumsum(rng.binomial(per_look, rate, size=looks))
        for look in range(looks):
            n = per_look * (look + 1)
            current.update({"control": numbers(n, int(control[look])), "variant-a": numbers(n, int(variant[look]))})
            answer = clear_winner(results_of(test, now=timezone.now()))
            if answer is not None:
                stopped_with_variant += answer == "variant-a"
                stopped_with_control += answer == "control"
                break
    # Then at most 5 % of them end at all: with no difference, ending with either arm is a false positive
    assert (stopped_with_variant + stopped_with_control) / simulations <= 0.05
