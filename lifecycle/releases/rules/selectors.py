"""What the rules' API and admin read: rules, alerts and evaluations, each list in one query (plus the
page count), however long."""

from __future__ import annotations

from urllib.parse import urlsplit
from uuid import UUID

from django.db.models import QuerySet

from lifecycle.core.roles import User
from lifecycle.releases.rules.exceptions import RuleNotFound
from lifecycle.releases.rules.models import Alert, TriggerEvaluation, TriggerRule
from lifecycle.releases.rules.permissions import may_manage_rules


def rules_for_listing(*, template_id: UUID | None = None) -> QuerySet[TriggerRule]:
    """Rules, newest first; those of one template if asked."""
    rules = TriggerRule.objects.select_related("created_by", "state").order_by("-created_at", "id")
    return rules.filter(template_id=template_id) if template_id is not None else rules


def rule_by_id(rule_id: UUID) -> TriggerRule:
    rule = rules_for_listing().filter(pk=rule_id).first()
    if rule is None:
        raise RuleNotFound()
    return rule


def alerts_for_listing(*, template_id: UUID | None = None) -> QuerySet[Alert]:
    """Alerts rules fired, newest first; those of one template if asked."""
    alerts = Alert.objects.select_related("deployment__version").order_by("-fired_at", "-id")
    return alerts.filter(template_id=template_id) if template_id is not None else alerts


def evaluations_of(rule_id: UUID) -> QuerySet[TriggerEvaluation]:
    """A rule's recorded evaluations, newest first (they outlive the rule)."""
    return TriggerEvaluation.objects.filter(rule_id=rule_id).select_related("deployment__version").order_by("-tick")


def webhook_url_shown_to(viewer: User | None, rule: TriggerRule) -> str | None:
    """The rule's webhook URL as `viewer` may read it: whole for those who manage rules; for everyone else
    its scheme and host only, since receivers' URLs often carry their credentials (chat webhooks do)."""
    url = rule.notify_webhook_url
    if not url:
        return None
    if viewer is not None and may_manage_rules(viewer):
        return url
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/..."
