"""Two tests of one template and environment started at the same moment: exactly one runs, the other is a
409 (a Conflict) and stays a draft. The template's row lock serializes the starts; the partial unique
constraint holds even when the code's own check misses the other test. Run on PostgreSQL (DATABASE_URL) as
well as SQLite."""

from __future__ import annotations

import time
from functools import partial

import pytest

from abtesting import services
from abtesting.exceptions import AnotherTestRunning
from abtesting.models import ABTest
from abtesting.services import create_test, start_test, stop_test
from lifecycle.core.exceptions import Conflict
from lifecycle.testing.concurrency import at_once


def two_drafts(subject, actor):
    return [
        create_test(actor=actor, **subject.service_payload(name=name, environment="development"))
        for name in ("First", "Second")
    ]


def running(subject):
    return list(ABTest.objects.filter(template=subject.template, environment="development", state="running"))


@pytest.mark.django_db(transaction=True)
def test_race__two_starts_at_once__one_runs_the_other_409(subject, runner, monkeypatch):
    # Given two drafts, and starts that linger under the template's lock (as on a loaded server)
    first, second = two_drafts(subject, runner)
    checked = services._require_approved

    def slowly(test):
        checked(test)
        time.sleep(0.3)

    monkeypatch.setattr(services, "_require_approved", slowly)
    # When a deployer starts both at the same moment
    outcomes = at_once([partial(start_test, actor=runner, test_id=test.pk) for test in (first, second)])
    # Then one runs and the other is refused with a 409
    won = [outcome for outcome in outcomes if isinstance(outcome, ABTest)]
    lost = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert (len(won), len(lost)) == (1, 1), outcomes
    assert isinstance(lost[0], AnotherTestRunning)
    assert lost[0].status == 409
    assert [test.pk for test in running(subject)] == [won[0].pk]
    loser = next(test for test in (first, second) if test.pk != won[0].pk)
    assert ABTest.objects.get(pk=loser.pk).state == "draft"


@pytest.mark.django_db(transaction=True)
def test_race__start_and_stop_at_once__both_served_in_turn(subject, runner):
    # Given one running test and a draft
    first, second = two_drafts(subject, runner)
    start_test(actor=runner, test_id=first.pk)
    # When one deployer stops the first while another starts the second
    outcomes = at_once(
        [partial(stop_test, actor=runner, test_id=first.pk), partial(start_test, actor=runner, test_id=second.pk)]
    )
    # Then the stop always succeeds; the start either ran after it or was refused with a 409
    assert isinstance(outcomes[0], ABTest), outcomes
    assert isinstance(outcomes[1], ABTest | Conflict), outcomes
    assert len(running(subject)) <= 1


@pytest.mark.django_db
def test_constraint__check_misses_the_running_test__database_refuses_409(subject, runner, monkeypatch):
    # Given a running test, and the code's own check blind to it (as code that bypassed it would be)
    first, second = two_drafts(subject, runner)
    start_test(actor=runner, test_id=first.pk)
    monkeypatch.setattr(services, "running_test", lambda *args, **kwargs: None)
    # When the second is started
    with pytest.raises(AnotherTestRunning) as refusal:
        start_test(actor=runner, test_id=second.pk)
    # Then the database's constraint refused it: a 409, and the second is still a draft
    assert refusal.value.status == 409
    assert ABTest.objects.get(pk=second.pk).state == "draft"
    assert [test.pk for test in running(subject)] == [first.pk]
