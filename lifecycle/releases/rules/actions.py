"""The one place where a rule's decision becomes an act: `act(firing)` records the alert, rolls back when
the rule says so (lifecycle.releases.services.roll_back_automatically), and notifies (the outbox,
lifecycle.core.outbox.services.notify). The engine (evaluation.py) calls it inside the transaction that
holds the template's and the deployment's locks, after recording the evaluations that fired; the outbox's
deliveries commit with the alert and are sent by a worker after the commit.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from analytics.windows import iso
from lifecycle.core.exceptions import DomainError
from lifecycle.core.outbox.services import notify
from lifecycle.core.webhooks.services import publish
from lifecycle.releases.models import Rollback
from lifecycle.releases.rules.definitions import Action
from lifecycle.releases.rules.engine import Firing
from lifecycle.releases.rules.models import Alert
from lifecycle.releases.services import roll_back_automatically
from templates_app.services import version_json

logger = logging.getLogger(__name__)

NO_SAFE_TARGET = "alerted instead: no safe target"


def act(firing: Firing) -> Alert:
    """Do what a fired rule says, and record it as an Alert (newest first at GET /api/alerts).

    - alert: notify.
    - rollback: roll the breaching deployment back (to the last good version, as the rollback service
      decides); if that does not happen (no safe target, or the deployment is no longer the active one),
      alert instead, and say so. Then notify, either way.
    A failing rollback or notification never undoes the alert: each runs in its own savepoint.
    """
    outcome, detail, rollback = Alert.Outcome.ALERTED, "", None
    if firing.action == Action.ROLLBACK:
        try:
            with transaction.atomic():
                rollback = _roll_back(firing)
        except Exception as exc:  # a bug or a database error in the rollback must not lose the alert
            logger.exception("automatic rollback for rule %s failed", firing.rule.pk)
            detail = f"alerted instead: the rollback failed ({type(exc).__name__})"
        if rollback is not None:
            outcome, detail = Alert.Outcome.ROLLED_BACK, "rolled back to the last good version"
        else:
            outcome, detail = Alert.Outcome.ALERTED_INSTEAD, detail or NO_SAFE_TARGET
    alert = Alert.objects.create(
        rule_id=firing.rule.pk,
        rule_history_id=firing.rule_history_id,
        template_id=firing.deployment.template_id,
        environment=firing.deployment.environment,
        deployment=firing.deployment,
        rollback=rollback,
        metric=firing.rule.metric,
        action=firing.action,
        outcome=outcome,
        outcome_detail=detail,
        rule_label=firing.rule.description,
        summary=firing.summary,
        evidence=firing.evidence,
    )
    try:
        with transaction.atomic():
            _notify(firing, alert)
    except Exception:  # a notification never blocks or undoes what happened
        logger.exception("notifying alert %s failed", alert.pk)
    publish(  # never raises: a failure to tell subscribers leaves the alert as it is
        event="alert.fired",
        actor=None,
        template_id=alert.template_id,
        data={"alert": alert_payload(alert), "version": version_json(firing.deployment.version)},
    )
    return alert


def _roll_back(firing: Firing) -> Rollback | None:
    """Roll the breaching deployment back; the rollback, or None when it did not happen. The rollback
    service decides the target (the last good version, never one a rule rolled back, never forward) and
    checks that the breaching deployment is still the active one; it answers None when it will not act."""
    try:
        return roll_back_automatically(
            template_id=firing.deployment.template_id,
            environment=firing.deployment.environment,
            breaching_deployment_id=firing.deployment.pk,
            reason=firing.summary,
            evidence=firing.evidence,
            rule_label=f"system:rule:{firing.rule.pk}",
        )
    except DomainError as refusal:  # e.g. another rollback of this template and environment in progress
        logger.warning("automatic rollback for rule %s refused: %s", firing.rule.pk, refusal.message)
        return None


def _notify(firing: Firing, alert: Alert) -> None:
    """Queue the alert's email and webhook deliveries (written in this transaction, sent after commit by
    the outbox's worker, signed with the rule's secret)."""
    rule = firing.rule
    if not rule.notify_emails and not rule.notify_webhook_url:
        return
    notify(
        event="alert.fired",
        subject=f"[{alert.environment}] {alert.get_outcome_display()}: {alert.summary}",
        payload=alert_payload(alert),
        emails=list(rule.notify_emails),
        webhook_url=rule.notify_webhook_url or None,
        webhook_secret=rule.webhook_secret,
        source=f"rule:{rule.pk}",
    )


def alert_payload(alert: Alert) -> dict[str, Any]:
    """The alert as notifications carry it: GET /api/alerts' fields, as JSON values."""
    return {
        "id": str(alert.pk),
        "ruleId": str(alert.rule_id),
        "templateId": str(alert.template_id),
        "environment": alert.environment,
        "deploymentId": str(alert.deployment_id),
        "metric": alert.metric,
        "action": alert.action,
        "outcome": alert.outcome,
        "outcomeDetail": alert.outcome_detail,
        "rollbackId": str(alert.rollback_id) if alert.rollback_id else None,
        "rule": alert.rule_label,
        "summary": alert.summary,
        "evidence": alert.evidence,
        "firedAt": iso(alert.fired_at),
    }
