"""act(): what a fired rule does. Alerts notify; rollback rules roll back through the rollback service, or
alert instead when it does not happen; neither a failing rollback nor a failing notification loses the
alert. The rollback service and the outbox are stood in for here (they are built beside this engine)."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from lifecycle.core.exceptions import Conflict
from lifecycle.releases import services as release_services
from lifecycle.releases.rules.actions import NO_SAFE_TARGET
from lifecycle.releases.rules.models import Alert, TriggerEvaluation
from lifecycle.releases.tests.test_rules_helpers import clock_fixture, live_fixture, report  # noqa: F401

pytestmark = pytest.mark.django_db

FIRES_AT_ONCE = {
    "metric": "success_rate",
    "operator": "lt",
    "threshold": 95,
    "window_minutes": 1,
    "min_executions": 10,
    "consecutive_breaches": 2,
    "cooldown_minutes": 0,
}


def breach_twice(live, **fields):
    rule = live.rule(**{**FIRES_AT_ONCE, **fields})
    for minute in (1, 2):
        report(live.version, 20, start=live.minute(minute - 1), end=live.minute(minute), failures=20)
        result = live.evaluate(minute)
    return rule, result


@pytest.fixture
def rollback_service(monkeypatch):
    """Stands in for lifecycle.releases.services.roll_back_automatically: its calls, and what it answers."""
    calls: list[dict[str, Any]] = []
    answer: dict[str, Any] = {"value": object()}

    def roll_back_automatically(**kwargs: Any) -> Any:
        calls.append(kwargs)
        if isinstance(answer["value"], Exception):
            raise answer["value"]
        return answer["value"]

    monkeypatch.setattr(release_services, "roll_back_automatically", roll_back_automatically, raising=False)
    return calls, answer


@pytest.fixture
def outbox(monkeypatch):
    """Stands in for lifecycle.core.outbox.services.notify: the notifications asked for."""
    sent: list[dict[str, Any]] = []
    package, module = types.ModuleType("lifecycle.core.outbox"), types.ModuleType("lifecycle.core.outbox.services")
    module.notify = lambda **kwargs: sent.append(kwargs)  # type: ignore[attr-defined]
    package.services = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lifecycle.core.outbox", package)
    monkeypatch.setitem(sys.modules, "lifecycle.core.outbox.services", module)
    return sent


def test_rollback_rule__rollback_happens__recorded_as_rolled_back_with_the_evidence(live, rollback_service):
    calls, _ = rollback_service
    rule, result = breach_twice(live, action="rollback")
    (alert,) = result.alerts
    assert (alert.action, alert.outcome) == ("rollback", "rolled_back")
    (call,) = calls
    assert call["template_id"] == live.template.pk
    assert call["environment"] == "development"
    assert call["breaching_deployment_id"] == live.deployment.pk
    assert call["reason"] == alert.summary
    assert call["rule_label"] == f"rule {rule.pk}: {rule.description}"
    # The evidence: the two breaching evaluations that fired it, oldest first
    assert [evaluation["streak"] for evaluation in call["evidence"]["evaluations"]] == [1, 2]
    assert call["evidence"]["evaluations"][-1]["decision"] == "fire"


@pytest.mark.parametrize("answer", [None, Conflict("Another rollback is in progress.")])
def test_rollback_rule__no_rollback__alerted_instead(live, rollback_service, answer):
    # Given the rollback service finds no safe target (None), or refuses (a rollback in progress)
    rollback_service[1]["value"] = answer
    _, result = breach_twice(live, action="rollback")
    (alert,) = result.alerts
    assert (alert.outcome, alert.outcome_detail) == ("alerted_instead", NO_SAFE_TARGET)


def test_rollback_rule__rollback_service_missing__alerted_instead(live, monkeypatch):
    # As before the rollback service lands: importing it fails
    monkeypatch.delattr(release_services, "roll_back_automatically", raising=False)
    _, result = breach_twice(live, action="rollback")
    assert result.alerts[0].outcome == "alerted_instead"


def test_rollback_rule__rollback_crashes__alert_and_evaluations_kept(live, rollback_service):
    rollback_service[1]["value"] = RuntimeError("boom")
    rule, result = breach_twice(live, action="rollback")
    (alert,) = result.alerts
    assert alert.outcome == "alerted_instead"
    assert "RuntimeError" in alert.outcome_detail
    assert TriggerEvaluation.objects.filter(rule_id=rule.pk).count() == 2


def test_alert_rule__notifies_and_never_rolls_back(live, rollback_service, outbox):
    rule, result = breach_twice(
        live, notify_emails=["oncall@example.com"], notify_webhook_url="https://hooks.example.com/alerts"
    )
    calls, _ = rollback_service
    assert calls == []
    (alert,) = result.alerts
    (sent,) = outbox
    assert sent["event"] == "alert.fired"
    assert sent["emails"] == ["oncall@example.com"]
    assert sent["webhook_url"] == "https://hooks.example.com/alerts"
    assert sent["webhook_secret"] == rule.webhook_secret
    assert sent["payload"]["id"] == str(alert.pk)
    assert sent["payload"]["summary"] == alert.summary
    assert sent["payload"]["evidence"]["ruleId"] == str(rule.pk)


def test_alert_rule__nobody_to_notify__nothing_queued(live, outbox):
    breach_twice(live)
    assert outbox == []


def test_alert_rule__notification_fails__alert_kept(live, monkeypatch, outbox):
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("mail server down")

    monkeypatch.setattr(sys.modules["lifecycle.core.outbox.services"], "notify", broken)
    _, result = breach_twice(live, notify_emails=["oncall@example.com"])
    assert Alert.objects.filter(pk=result.alerts[0].pk).exists()
