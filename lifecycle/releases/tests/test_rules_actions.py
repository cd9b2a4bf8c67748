"""act(): what a fired rule does, through the real rollback service and the real notification outbox.
Alerts notify; rollback rules roll back to the last good version, or alert instead when that does not
happen; neither a failing rollback nor a failing notification loses the alert. Only faults are injected
(a crash, a refusal), where nothing real can be made to fail on demand."""

from __future__ import annotations

from typing import Any

import pytest

from lifecycle.core.exceptions import Conflict
from lifecycle.core.outbox.models import Delivery
from lifecycle.releases.models import Deployment, Rollback
from lifecycle.releases.rules import actions
from lifecycle.releases.rules.actions import NO_SAFE_TARGET
from lifecycle.releases.rules.models import Alert, TriggerEvaluation
from lifecycle.releases.selectors import active_version_id
from lifecycle.releases.tests.test_rules_helpers import ENVIRONMENT, clock_fixture, live_fixture, report  # noqa: F401

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
WEBHOOK = "https://hooks.example.com/alerts"


def breach_twice(live, **fields):
    rule = live.rule(**{**FIRES_AT_ONCE, **fields})
    for minute in (1, 2):
        report(live.version, 20, start=live.minute(minute - 1), end=live.minute(minute), failures=20)
        result = live.evaluate(minute)
    return rule, result


def deliveries(rule) -> list[Delivery]:
    return list(Delivery.objects.filter(source=f"rule:{rule.pk}").order_by("channel"))


def test_rollback_rule__earlier_version_exists__rolled_back_recorded_and_notified(live):
    # Given version 1 was live in development, then version 2 replaced it
    second = live.next_version()
    # When a rollback rule with a webhook fires on version 2
    rule, result = breach_twice(second, action="rollback", notify_webhook_url=WEBHOOK)
    # Then version 1 is served again, by render's own lookup
    assert active_version_id(live.template.pk, ENVIRONMENT) == live.version.pk
    (alert,) = result.alerts
    assert (alert.action, alert.outcome) == ("rollback", "rolled_back")
    # And the rollback is recorded as automatic, by the rule, with the evidence, and checked after commit
    rollback = Rollback.objects.get(pk=alert.rollback_id)
    assert (rollback.type, rollback.state) == ("automatic", "completed")
    assert rollback.initiated_by is None
    assert rollback.initiated_by_label == f"system:rule:{rule.pk}"
    assert (rollback.from_version_id, rollback.to_version_id) == (second.version.pk, live.version.pk)
    assert rollback.reason == alert.summary
    assert [evaluation["streak"] for evaluation in rollback.evidence["evaluations"]] == [1, 2]
    assert rollback.evidence["evaluations"][-1]["decision"] == "fire"
    assert rollback.verified_version_id == live.version.pk
    # And the breaching deployment is marked rolled back by a rule
    breaching = Deployment.objects.get(pk=second.deployment.pk)
    assert breaching.state == "rolled_back"
    # And the rule's webhook is queued with the alert, signed with the rule's secret
    (webhook,) = deliveries(rule)
    assert (webhook.event, webhook.channel, webhook.webhook_url) == ("alert.fired", "webhook", WEBHOOK)
    assert webhook.webhook_secret == rule.webhook_secret
    assert webhook.payload["outcome"] == "rolled_back"
    assert webhook.payload["rollbackId"] == str(rollback.pk)


def test_rollback_rule__only_one_version__alerted_instead_and_nothing_changed(live):
    # Given the breaching version is the template's first: there is nothing to roll back to
    _, result = breach_twice(live, action="rollback")
    (alert,) = result.alerts
    assert (alert.outcome, alert.outcome_detail, alert.rollback_id) == ("alerted_instead", NO_SAFE_TARGET, None)
    assert active_version_id(live.template.pk, ENVIRONMENT) == live.version.pk
    assert not Rollback.objects.exists()


def test_rollback_rule__rollback_refused__alerted_instead(live, monkeypatch):
    # Given the rollback service refuses (as it does while another rollback is in progress)
    second = live.next_version()

    def refuses(**kwargs: Any) -> None:
        raise Conflict("Another rollback is in progress.")

    monkeypatch.setattr(actions, "roll_back_automatically", refuses)
    _, result = breach_twice(second, action="rollback")
    (alert,) = result.alerts
    assert (alert.outcome, alert.outcome_detail) == ("alerted_instead", NO_SAFE_TARGET)
    assert active_version_id(live.template.pk, ENVIRONMENT) == second.version.pk


def test_rollback_rule__rollback_crashes__alert_and_evaluations_kept(live, monkeypatch):
    second = live.next_version()

    def crashes(**kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(actions, "roll_back_automatically", crashes)
    rule, result = breach_twice(second, action="rollback")
    (alert,) = result.alerts
    assert alert.outcome == "alerted_instead"
    assert "RuntimeError" in alert.outcome_detail
    assert TriggerEvaluation.objects.filter(rule_id=rule.pk).count() == 2
    assert active_version_id(live.template.pk, ENVIRONMENT) == second.version.pk


def test_alert_rule__notifies_by_email_and_webhook_and_never_rolls_back(live):
    second = live.next_version()
    rule, result = breach_twice(second, notify_emails=["oncall@example.com"], notify_webhook_url=WEBHOOK)
    assert active_version_id(live.template.pk, ENVIRONMENT) == second.version.pk
    assert not Rollback.objects.exists()
    (alert,) = result.alerts
    assert (alert.outcome, alert.rollback_id) == ("alerted", None)
    email, webhook = deliveries(rule)
    assert (email.channel, email.emails, email.event) == ("email", ["oncall@example.com"], "alert.fired")
    assert alert.summary in email.subject
    assert (webhook.channel, webhook.webhook_url, webhook.webhook_secret) == ("webhook", WEBHOOK, rule.webhook_secret)
    for delivery in (email, webhook):
        assert delivery.payload["id"] == str(alert.pk)
        assert delivery.payload["summary"] == alert.summary
        assert delivery.payload["evidence"]["ruleId"] == str(rule.pk)


def test_alert_rule__nobody_to_notify__nothing_queued(live):
    rule, result = breach_twice(live)
    assert result.alerts
    assert deliveries(rule) == []


def test_alert_rule__notification_cannot_be_written__alert_kept(live, monkeypatch):
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("outbox table unavailable")

    monkeypatch.setattr(actions, "notify", broken)
    _, result = breach_twice(live, notify_emails=["oncall@example.com"])
    assert Alert.objects.filter(pk=result.alerts[0].pk).exists()


def test_rollback_rule__webhook_subscribers_hear_the_alert_and_the_automatic_rollback(live, make_user):
    from lifecycle.core.webhooks.services import create_subscription

    # Given a subscription to alerts and rollbacks of every template
    subscription, _ = create_subscription(
        actor=make_user(superuser=True),
        url="https://hooks.example.com/lifecycle",
        events=["alert.fired", "rollback.completed"],
    )
    second = live.next_version()
    # When a rollback rule fires on version 2
    rule, result = breach_twice(second, action="rollback")
    (alert,) = result.alerts
    # Then both events are queued for the subscriber, by the system (no actor), naming the rule's work
    queued = {delivery.event: delivery.payload for delivery in Delivery.objects.filter(source=subscription.source)}
    assert set(queued) == {"alert.fired", "rollback.completed"}
    rolled_back = queued["rollback.completed"]
    assert rolled_back["actor"] is None
    assert rolled_back["rollback"]["type"] == "automatic"
    assert rolled_back["rollback"]["initiatedBy"] == f"system:rule:{rule.pk}"
    assert (rolled_back["fromVersion"]["id"], rolled_back["toVersion"]["id"]) == (
        str(second.version.pk),
        str(live.version.pk),
    )
    fired = queued["alert.fired"]
    assert fired["alert"]["id"] == str(alert.pk)
    assert fired["alert"]["outcome"] == "rolled_back"
    assert fired["version"]["id"] == str(second.version.pk)
    assert fired["templateId"] == str(live.template.pk)
