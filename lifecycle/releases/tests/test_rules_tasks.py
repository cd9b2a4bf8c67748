"""The beat's tasks: one task per template and environment with enabled rules; safe to run twice or on two
workers at once (a rule fires once)."""

from __future__ import annotations

from functools import partial

import pytest
from django.utils import timezone

from lifecycle.celery import app
from lifecycle.releases.rules import tasks
from lifecycle.releases.rules.evaluation import evaluate_pair
from lifecycle.releases.rules.models import Alert, TriggerEvaluation, TriggerState
from lifecycle.releases.tests.test_rules_helpers import (  # noqa: F401
    ENVIRONMENT,
    clock_fixture,
    evaluations,
    live_fixture,
    live_template,
    report,
)
from lifecycle.testing.concurrency import at_once

FIRES_NOW = {
    "metric": "success_rate",
    "operator": "lt",
    "threshold": 95,
    "window_minutes": 15,
    "min_executions": 10,
    "consecutive_breaches": 1,
}


def test_beat__schedules_the_evaluation_at_the_configured_interval(settings):
    app.finalize(auto=True)  # as the worker and beat do at start: this schedules beat's tasks (alone, too)
    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert "releases.evaluate_rollback_triggers" in schedule
    assert app.tasks["releases.evaluate_rollback_triggers_for"].acks_late is True


@pytest.mark.django_db
def test_dispatch__pairs_with_enabled_rules__each_evaluated_with_its_task_id(live, author, deployer):
    # Given two templates with failing executions up to now, one with an enabled rule, one with a disabled one
    quiet = live_template(author, deployer)
    for stage in (live, quiet):
        report(stage.version, 20, start=stage.at, end=timezone.now(), failures=20)
    rule = live.rule(**FIRES_NOW)
    quiet.rule(**FIRES_NOW, enabled=False)
    # When beat's task runs (tasks run in-process in tests)
    assert tasks.evaluate_rollback_triggers.delay().get() == 1
    # Then the enabled rule was evaluated by its pair's task, and fired
    (row,) = evaluations(rule)
    assert (row.status, row.decision) == ("breach", "fire")
    assert row.task_id
    assert Alert.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once__the_rule_fires_once(author, deployer, settings):
    settings.EXECUTION_CLOCK_SKEW_SECONDS = 3 * 86400
    live = live_template(author, deployer)
    report(live.version, 40, start=live.minute(0), end=live.minute(5), failures=40)
    rule = live.rule(**FIRES_NOW)
    evaluate = partial(evaluate_pair, template_id=live.template.pk, environment=ENVIRONMENT)
    # When two workers evaluate the same tick at the same moment (a redelivered task, two beats)
    outcomes = at_once([partial(evaluate, window_end=live.minute(5)), partial(evaluate, window_end=live.minute(5))])
    # Then neither failed, one evaluation was recorded, and the rule fired once
    assert not any(isinstance(outcome, BaseException) for outcome in outcomes), outcomes
    assert sorted(len(outcome.firings) for outcome in outcomes) == [0, 1]
    assert TriggerEvaluation.objects.filter(rule_id=rule.pk).count() == 1
    assert Alert.objects.count() == 1
    assert TriggerState.objects.get(rule=rule).streak == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once__consecutive_ticks__each_counted_once(author, deployer, settings):
    settings.EXECUTION_CLOCK_SKEW_SECONDS = 3 * 86400
    live = live_template(author, deployer)
    report(live.version, 40, start=live.minute(0), end=live.minute(5), failures=40)
    rule = live.rule(**{**FIRES_NOW, "consecutive_breaches": 3})
    evaluate = partial(evaluate_pair, template_id=live.template.pk, environment=ENVIRONMENT)
    for minute in (5, 6, 7):
        end = live.minute(minute)
        at_once([partial(evaluate, window_end=end), partial(evaluate, window_end=end)])
    assert [(row.streak, row.decision) for row in evaluations(rule)] == [(1, "none"), (2, "none"), (3, "fire")]
    assert Alert.objects.count() == 1
