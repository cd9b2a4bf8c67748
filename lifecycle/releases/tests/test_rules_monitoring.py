"""The rule engine's metric: each evaluation counted once by its verdict, a tick evaluated twice counted once."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from lifecycle.releases.tests.test_rules_helpers import clock_fixture, live_fixture, report  # noqa: F401

pytestmark = pytest.mark.django_db


def evaluated(status: str) -> float:
    return REGISTRY.get_sample_value("lifecycle_rule_evaluations_total", {"status": status}) or 0.0


def test_rule_evaluations__breach_then_the_same_tick_again__counted_once_by_verdict(live):
    # Given a rule and a minute of failing executions
    report(live.version, 30, start=live.minute(0), end=live.minute(1), failures=30)
    live.rule(metric="success_rate", operator="lt", threshold=95, min_executions=20, consecutive_breaches=5)
    breaches, oks = evaluated("breach"), evaluated("ok")
    # When the tick is evaluated, then evaluated again (a second worker, a task run twice)
    live.evaluate(1)
    live.evaluate(1)
    # Then one breach is counted, nothing else
    assert evaluated("breach") - breaches == 1
    assert evaluated("ok") == oks
