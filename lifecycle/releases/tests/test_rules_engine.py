"""The rule engine: windows, minimum samples, streaks, episodes, cooldowns, thresholds for each metric, dry
runs and idempotency, with executions reported through analytics' services."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from lifecycle.releases.rules.evaluation import evaluate_pair, tick_of
from lifecycle.releases.rules.models import Alert, TriggerEvaluation, TriggerState
from lifecycle.releases.tests.test_rules_helpers import ENVIRONMENT, clock_fixture, evaluations, live_fixture, report  # noqa: F401

pytestmark = pytest.mark.django_db

# A 1-minute window evaluated every minute: what each minute's executions are decides that minute's verdict.
MINUTE_RULE = {
    "metric": "success_rate",
    "operator": "lt",
    "threshold": 95,
    "window_minutes": 1,
    "min_executions": 20,
    "consecutive_breaches": 3,
    "cooldown_minutes": 0,
}


def minute_of(live, minute: int, kind: str) -> None:
    """Executions in [minute - 1, minute): `bad` (30, half failing), `good` (30, none failing), `few` (5)."""
    count, failures = {"bad": (30, 15), "good": (30, 0), "few": (5, 5)}[kind]
    report(live.version, count, start=live.minute(minute - 1), end=live.minute(minute), failures=failures)


def run(live, kinds: list[str], rule=None) -> list[tuple[str, int, str]]:
    """Each minute's executions then its evaluation at the minute's end: (status, streak, decision) of each,
    `ok` for an evaluation that was not recorded. MINUTE_RULE unless another rule is given."""
    rule = rule or live.rule(**MINUTE_RULE)
    outcomes = []
    for minute, kind in enumerate(kinds, start=1):
        minute_of(live, minute, kind)
        live.evaluate(minute)
        row = TriggerEvaluation.objects.filter(rule_id=rule.pk, window_end=live.minute(minute)).first()
        state = TriggerState.objects.get(rule=rule)
        outcomes.append((row.status, row.streak, row.decision) if row else ("ok", state.streak, "none"))
    return outcomes


def test_window__reports_before_the_deployment__not_counted(live):
    # Given failing executions of the version reported as run before its deployment began
    report(live.version, 200, start=live.at - timedelta(minutes=10), end=live.at, failures=200)
    # and healthy ones after it
    report(live.version, 150, start=live.minute(1), end=live.minute(4))
    rule = live.rule(metric="success_rate", operator="lt", threshold=95, window_minutes=15, consecutive_breaches=1)
    watch = live.rule(metric="error_rate", operator="gt", threshold=10, window_minutes=15, min_executions=1000)
    # When the rules are evaluated 5 minutes after the deployment, their 15-minute window reaching before it
    live.evaluate(5)
    # Then only the deployment's own executions count: 100 % success, a clean evaluation (not recorded);
    # all 350 would have made it 43 %
    assert evaluations(rule) == []
    assert TriggerState.objects.get(rule=rule).streak == 0
    (row,) = evaluations(watch)  # too few for this one: recorded, with its window
    assert (row.window_start, row.window_end, row.executions) == (live.at, live.minute(5), 150)


def test_window__starts_at_the_deployment_while_younger_than_the_window(live):
    report(live.version, 120, start=live.minute(0), end=live.minute(3), failures=60)
    rule = live.rule(metric="success_rate", operator="lt", threshold=95, window_minutes=15, consecutive_breaches=1)
    live.evaluate(3)
    (row,) = evaluations(rule)
    assert (row.window_start, row.window_end) == (live.at, live.minute(3))
    assert (row.status, row.executions, row.observed) == ("breach", 120, 50.0)


def test_minimum_samples__fewer_than_min__insufficient_data_recorded_and_never_acts(live):
    # Given 99 executions, all failing, where the rule needs 100
    report(live.version, 99, start=live.minute(0), end=live.minute(1), failures=99)
    rule = live.rule(
        metric="success_rate",
        operator="lt",
        threshold=95,
        min_executions=100,
        consecutive_breaches=1,
        action="rollback",
    )
    # When evaluated
    result = live.evaluate(2)
    # Then it is insufficient data: recorded with its reason, no streak, nothing fired
    (row,) = evaluations(rule)
    assert (row.status, row.streak, row.decision, row.executions) == ("insufficient_data", 0, "none", 99)
    assert "fewer than 100" in row.detail["reason"]
    assert result.firings == []
    assert not Alert.objects.exists()
    # and one more execution makes it a breach that fires
    report(live.version, 1, start=live.minute(1.5), failures=1)
    assert len(live.evaluate(3).firings) == 1


def test_streak__insufficient_data_neither_breaches_nor_resets(live):
    assert run(live, ["bad", "few", "bad", "few", "bad"]) == [
        ("breach", 1, "none"),
        ("insufficient_data", 1, "none"),
        ("breach", 2, "none"),
        ("insufficient_data", 2, "none"),
        ("breach", 3, "fire"),
    ]


def test_streak__clean_evaluation_resets(live):
    assert run(live, ["bad", "bad", "good", "bad", "bad", "bad"]) == [
        ("breach", 1, "none"),
        ("breach", 2, "none"),
        ("ok", 0, "none"),  # not recorded: a plain ok
        ("breach", 1, "none"),
        ("breach", 2, "none"),
        ("breach", 3, "fire"),
    ]


def test_streak__fires_once_per_episode_and_again_after_a_reset(live):
    outcomes = run(live, ["bad"] * 5 + ["good"] + ["bad"] * 3)
    assert [decision for _, _, decision in outcomes] == ["none", "none", "fire", "none", "none"] + ["none"] * 3 + [
        "fire"
    ]
    assert [streak for _, streak, _ in outcomes] == [1, 2, 3, 4, 5, 0, 1, 2, 3]
    assert Alert.objects.count() == 2


def test_cooldown__episode_reaching_its_count_in_cooldown__waits_then_fires_if_still_breaching(live):
    rule = live.rule(**{**MINUTE_RULE, "cooldown_minutes": 6})
    # Fires at minute 3 (cooldown until minute 9); resets at 4; breaches from 5: its count at 7, in cooldown
    outcomes = run(live, ["bad", "bad", "bad", "good", "bad", "bad", "bad", "bad", "bad", "bad"], rule)
    decisions = [decision for _, _, decision in outcomes]
    assert decisions == ["none", "none", "fire", "none", "none", "none", "cooldown", "cooldown", "fire", "none"]
    assert Alert.objects.count() == 2


def test_cooldown__rollback_rule_that_fired__holds_the_other_rollback_rules_of_the_pair(live):
    first = live.rule(**{**MINUTE_RULE, "action": "rollback", "cooldown_minutes": 30})
    second = live.rule(
        **{**MINUTE_RULE, "metric": "error_rate", "operator": "gt", "threshold": 5, "action": "rollback"}
    )
    alert_rule = live.rule(**{**MINUTE_RULE, "metric": "error_rate", "operator": "gt", "threshold": 5})
    run(live, ["bad"] * 3, first)
    decisions = {
        rule.pk: TriggerEvaluation.objects.get(rule_id=rule.pk, window_end=live.minute(3)).decision
        for rule in (first, second, alert_rule)
    }
    # The first rollback rule fires; the second, due the same minute, holds its cooldown; alerts are not held
    assert decisions == {first.pk: "fire", second.pk: "cooldown", alert_rule.pk: "fire"}
    assert TriggerState.objects.get(rule=second).cooldown_until == live.minute(33)


ABSOLUTE_CASES = [
    # metric, operator, threshold, executions' settings, expected observed value, breach?
    ("success_rate", "lt", 95, {"failures": 12}, 88.0, True),
    ("success_rate", "lt", 85, {"failures": 12}, 88.0, False),
    ("error_rate", "gt", 10, {"failures": 12}, 12.0, True),
    ("error_rate", "gt", 15, {"failures": 12}, 12.0, False),
    ("average_cost", "gt", 0.004, {"cost": 0.005}, 0.005, True),
    ("average_cost", "gt", 0.006, {"cost": 0.005}, 0.005, False),
    ("average_satisfaction", "lt", 3, {"satisfaction": [1, 2, 3, 2] * 25}, 2.0, True),
    ("average_satisfaction", "lt", 2, {"satisfaction": [1, 2, 3, 2] * 25}, 2.0, False),
    ("daily_cost", "gt", 0.4, {"cost": 0.005}, 0.5, True),
    ("daily_cost", "gt", 0.6, {"cost": 0.005}, 0.5, False),
]


@pytest.mark.parametrize(("metric", "operator", "threshold", "settings_", "observed", "breach"), ABSOLUTE_CASES)
def test_absolute__each_metric__value_against_threshold(live, metric, operator, threshold, settings_, observed, breach):
    report(live.version, 100, start=live.minute(1), end=live.minute(9), **settings_)
    rule = live.rule(metric=metric, operator=operator, threshold=threshold, consecutive_breaches=1, dry_run=True)
    live.evaluate(10)
    rows = evaluations(rule)
    if breach:
        (row,) = rows
        assert (row.status, row.decision) == ("breach", "dry_run")
        assert math.isclose(row.observed, observed, rel_tol=1e-9)
    else:
        assert rows == []  # a plain ok


def test_absolute__p95_response_time__within_one_percent_of_the_exact_percentile(live):
    rng = np.random.default_rng(5)
    times = rng.lognormal(8.4, 0.5, size=400).round(3)  # around 4,400 ms, a long tail
    report(live.version, 400, start=live.minute(1), end=live.minute(9), response_times=list(times))
    rule = live.rule(metric="p95_response_time", operator="gt", threshold=5000, consecutive_breaches=1)
    live.evaluate(10)
    (row,) = evaluations(rule)
    exact = float(np.percentile(times, 95, method="inverted_cdf"))  # nearest rank, as analytics defines it
    assert row.status == "breach"
    assert exact > 5000
    assert abs(row.observed - exact) <= 0.01 * exact


def test_daily_cost__reads_the_last_day_clipped_at_the_deployment_and_needs_no_minimum(live):
    report(live.version, 10, start=live.minute(10), end=live.minute(20), cost=0.2)  # 2.0 in all
    rule = live.rule(metric="daily_cost", operator="gt", threshold=1.5, consecutive_breaches=1)
    live.evaluate(60 * 20)
    (row,) = evaluations(rule)
    assert (row.window_start, row.observed, row.executions, row.status) == (live.at, 2.0, 10, "breach")
    # A day later those executions have left the window
    live.evaluate(60 * 20 + 24 * 60)
    assert TriggerState.objects.get(rule=rule).streak == 0


def test_dry_run__records_what_it_would_do_and_does_nothing(live):
    rule = live.rule(**{**MINUTE_RULE, "dry_run": True, "action": "rollback"})
    outcomes = run(live, ["bad"] * 4, rule)
    assert [decision for _, _, decision in outcomes] == ["none", "none", "dry_run", "none"]
    assert not Alert.objects.exists()


def test_idempotency__same_tick_twice__recorded_once_and_streak_counted_once(live):
    report(live.version, 50, start=live.minute(0), end=live.minute(1), failures=50)
    rule = live.rule(**{**MINUTE_RULE, "consecutive_breaches": 2})
    first = live.evaluate(1)
    # Again for the same tick: a redelivered task, and beat's next run within the same interval
    redelivered = live.evaluate(1)
    same_tick = evaluate_pair(
        template_id=live.template.pk, environment=ENVIRONMENT, window_end=first.tick + timedelta(seconds=59.9)
    )
    assert first.recorded == 1
    for again in (redelivered, same_tick):
        assert again.tick == first.tick
        assert (again.skipped, again.recorded) == ("already evaluated for this tick", 0)
    assert [row.streak for row in evaluations(rule)] == [1]
    assert TriggerState.objects.get(rule=rule).streak == 1
    # The next tick counts
    report(live.version, 50, start=live.minute(1), end=live.minute(2), failures=50)
    live.evaluate(2)
    assert [row.streak for row in evaluations(rule)] == [1, 2]


def test_evaluation__records_task_and_history_of_the_rule(live):
    report(live.version, 50, start=live.minute(0), end=live.minute(1), failures=50)
    rule = live.rule(**MINUTE_RULE)
    live.evaluate(1, task_id="task-1")
    (row,) = evaluations(rule)
    assert row.task_id == "task-1"
    assert row.rule_history.history_id == rule.history.latest().history_id
    assert row.deployment_id == live.deployment.pk


# -- quiet rules: what a tick over many idle templates writes -----------------------------------------------


def test_insufficient_data__again_and_again__recorded_once_until_it_changes(live):
    # Given a rule whose window holds too few executions minute after minute, then enough, then too few again
    rule = live.rule(**MINUTE_RULE)
    found = []
    for minute, kind in enumerate(["few", "few", "few", "good", "few", "few"], start=1):
        minute_of(live, minute, kind)
        live.evaluate(minute)
        state = TriggerState.objects.get(rule=rule)
        found.append((state.last_status, state.streak))
    # Then each minute is short of data, or ok, with no streak; and only the first minute short of data in
    # each run of them is recorded (an idle template's every tick would otherwise add a row)
    assert found == [("insufficient_data", 0)] * 3 + [("ok", 0)] + [("insufficient_data", 0)] * 2
    recorded = list(TriggerEvaluation.objects.filter(rule_id=rule.pk).order_by("tick").values_list("status", "tick"))
    assert recorded == [
        ("insufficient_data", tick_of(live.minute(1))),
        ("insufficient_data", tick_of(live.minute(5))),
    ]


def test_insufficient_data__during_a_breach__recorded(live):
    # A breach in progress, then too few executions: it neither breaches nor resets, and is kept as evidence
    assert run(live, ["bad", "few", "few"]) == [
        ("breach", 1, "none"),
        ("insufficient_data", 1, "none"),
        ("insufficient_data", 1, "none"),
    ]


def test_quiet_tick__every_rule_ok_again__no_transaction_and_the_last_tick_moves(live):
    rule = live.rule(**MINUTE_RULE)
    minute_of(live, 1, "good")
    assert live.evaluate(1).quiet is False  # its first evaluation writes its state
    minute_of(live, 2, "good")
    result = live.evaluate(2)
    assert (result.quiet, result.evaluated, result.recorded) == (True, 1, 0)
    state = TriggerState.objects.get(rule=rule)
    assert (state.last_status, state.last_tick, state.streak) == ("ok", tick_of(live.minute(2)), 0)
    assert not TriggerEvaluation.objects.filter(rule_id=rule.pk).exists()
    # And a breach after quiet ticks is counted from 1
    minute_of(live, 3, "bad")
    assert live.evaluate(3).quiet is False
    assert TriggerState.objects.get(rule=rule).streak == 1


def test_evaluate_pairs__many_quiet_templates__queries_do_not_grow_with_them(live, author, deployer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from lifecycle.releases.rules.evaluation import evaluate_pairs
    from lifecycle.releases.tests.test_rules_helpers import live_template

    def quiet_pass(templates, minute):
        for each in templates:
            report(each.version, 30, start=each.minute(minute - 1), end=each.minute(minute))
        pairs = [(each.template.pk, ENVIRONMENT) for each in templates]
        with CaptureQueriesContext(connection) as queries:
            results = evaluate_pairs(pairs, window_end=live.minute(minute))
        assert all(result.quiet for result in results)
        return len(queries)

    few = [live] + [live_template(author, deployer) for _ in range(2)]
    many = few + [live_template(author, deployer) for _ in range(6)]
    for each in many:
        each.rule(**MINUTE_RULE)
        report(each.version, 30, start=each.minute(0), end=each.minute(1))
    evaluate_pairs([(each.template.pk, ENVIRONMENT) for each in many], window_end=live.minute(1))  # first: state
    assert quiet_pass(few, 2) == quiet_pass(many, 3)
