"""Two rollbacks, or a rollback and a deploy, racing for one template and environment: exactly one wins, the
other is a 409 (a Conflict), and what serves is what the winner made it. Row locks and database
constraints, not hope: run on PostgreSQL (DATABASE_URL) as well as SQLite.

Each race holds the rollbacks inside their transaction for a moment (as a loaded server would), so that the
two calls surely overlap rather than happen to run one after the other.
"""

from __future__ import annotations

import time
from functools import partial

import pytest

from lifecycle.core.exceptions import Conflict
from lifecycle.releases import selectors, services
from lifecycle.releases.models import Deployment, Rollback
from lifecycle.releases.services import (
    deploy_version,
    initiate_rollback,
    roll_back_automatically,
    roll_back_in_emergency,
)
from lifecycle.testing.concurrency import at_once

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def slow_rollbacks(monkeypatch):
    """Each rollback waits 0.3 s under the template's lock, once it has looked at what is active."""

    def slowly(deployment, **kwargs):
        time.sleep(0.3)
        return selectors.metrics_since_active(deployment, **kwargs)

    monkeypatch.setattr(services, "metrics_since_active", slowly)


def winners_and_losers(outcomes):
    won = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
    lost = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    for refusal in lost:
        assert isinstance(refusal, Conflict), refusal  # a 409, never anything else
        assert refusal.status == 409
    return won, lost


def the_state(served):
    active = Deployment.objects.filter(template=served.template, environment="production", state="active")
    assert active.count() == 1
    return active.get(), list(Rollback.objects.filter(template=served.template))


def test_race__two_manual_rollbacks__one_wins_the_other_409(served):
    first, previous, current = served.versions
    outcomes = at_once(
        [
            partial(
                initiate_rollback,
                actor=served.deployer,
                current_version_id=current.pk,
                target_version_id=target.pk,
                reason=f"to {target.number}",
            )
            for target in (previous, first)
        ]
    )
    won, lost = winners_and_losers(outcomes)
    assert (len(won), len(lost)) == (1, 1), outcomes
    active, rollbacks = the_state(served)
    assert [rollback.pk for rollback in rollbacks] == [won[0].pk]
    assert active.version_id == won[0].to_version_id
    assert rollbacks[0].state == "completed"


def test_race__two_emergency_rollbacks__one_wins_not_two_steps_back(served):
    outcomes = at_once(
        [
            partial(
                roll_back_in_emergency,
                actor=served.deployer,
                template_id=served.template.pk,
                environment="production",
                reason=f"on-call {index}",
            )
            for index in range(2)
        ]
    )
    won, lost = winners_and_losers(outcomes)
    assert (len(won), len(lost)) == (1, 1), outcomes
    active, rollbacks = the_state(served)
    assert active.version.number == "1.0.1"  # one step back, not two
    assert len(rollbacks) == 1


def test_race__rollback_and_deploy__one_wins_the_other_409(served):
    first, previous, current = served.versions
    rollback = partial(
        initiate_rollback,
        actor=served.deployer,
        current_version_id=current.pk,
        target_version_id=previous.pk,
        reason="slow",
    )
    deploy = partial(deploy_version, actor=served.deployer, version_id=first.pk, environment="production")
    outcomes = at_once([rollback, deploy])
    won, lost = winners_and_losers(outcomes)
    assert (len(won), len(lost)) == (1, 1), outcomes
    active, rollbacks = the_state(served)
    if isinstance(won[0], Rollback):
        assert active.version_id == previous.pk
        assert [r.state for r in rollbacks] == ["completed"]
    else:
        assert active.version_id == first.pk
        assert rollbacks == []


def test_race__automatic_and_emergency__one_wins(served):
    breaching = served.active()
    automatic = partial(
        roll_back_automatically,
        template_id=served.template.pk,
        environment="production",
        breaching_deployment_id=breaching.pk,
        reason="error rate",
        evidence={"n": 300},
        rule_label="system:rule:1",
    )
    emergency = partial(
        roll_back_in_emergency,
        actor=served.deployer,
        template_id=served.template.pk,
        environment="production",
        reason="down",
    )
    outcomes = at_once([automatic, emergency])
    # The rule engine's loser gets None (it alerts instead); the person's gets a 409
    done = [outcome for outcome in outcomes if isinstance(outcome, Rollback)]
    assert len(done) == 1, outcomes
    assert outcomes[0] is None or isinstance(outcomes[1], Conflict), outcomes
    active, rollbacks = the_state(served)
    assert active.version.number == "1.0.1"
    assert [rollback.pk for rollback in rollbacks] == [done[0].pk]


def test_race__many_rollbacks_at_once__exactly_one(served):
    _, previous, current = served.versions
    calls = [
        partial(
            initiate_rollback,
            actor=served.deployer,
            current_version_id=current.pk,
            target_version_id=previous.pk,
            reason=f"#{index}",
        )
        for index in range(4)
    ]
    won, lost = winners_and_losers(at_once(calls))
    assert (len(won), len(lost)) == (1, 3)
    _, rollbacks = the_state(served)
    assert len(rollbacks) == 1
