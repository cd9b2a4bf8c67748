"""Every change to trigger rules: create, edit, delete, and the original README's recommended alerts as
presets. Deployers and superusers only (permissions.py); each change is validated whole (validation.py)
and recorded in the rule's history with who made it.

An edit that changes what a rule measures or decides (or turns it on or off) resets its streak: breaches
counted under the old definition say nothing about the new one. It takes the template's lock first, as
the engine does (evaluation.py), so a reset and an evaluation never interleave.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from lifecycle.core.exceptions import InvalidInput
from lifecycle.core.roles import User
from lifecycle.releases.rules.definitions import (
    DAY_MINUTES,
    DEFAULT_CONSECUTIVE_BREACHES,
    DEFAULT_COOLDOWN_MINUTES,
    DEFAULT_MIN_EXECUTIONS,
    DEFAULT_WINDOW_MINUTES,
    METRICS,
    Action,
    Baseline,
    Metric,
    Operator,
)
from lifecycle.releases.rules.exceptions import RuleNotFound
from lifecycle.releases.rules.models import TriggerRule, TriggerState
from lifecycle.releases.rules.permissions import require_may_manage_rules
from lifecycle.releases.rules.validation import API_NAMES, problems_of, require_sound
from templates_app.services import lock_template

FIELDS = tuple(API_NAMES)  # the model fields a rule's author sets
# Changing any of these restarts the streak (and, through the baseline's key, the frozen baseline).
RESTARTS_STREAK = (
    "metric",
    "operator",
    "threshold",
    "baseline",
    "window_minutes",
    "min_executions",
    "alpha",
    "require_significance",
    "action",
    "dry_run",
    "enabled",
)
FIXED = ("template_id", "environment")


def rule_defaults(metric: Any = None) -> dict[str, Any]:
    """The fields a new rule takes when its author leaves them out (the issue's defaults)."""
    return {
        "baseline": Baseline.ABSOLUTE,
        "window_minutes": DAY_MINUTES if metric == Metric.DAILY_COST else DEFAULT_WINDOW_MINUTES,
        "min_executions": DEFAULT_MIN_EXECUTIONS,
        "consecutive_breaches": DEFAULT_CONSECUTIVE_BREACHES,
        "cooldown_minutes": DEFAULT_COOLDOWN_MINUTES,
        "action": Action.ALERT,
        "enabled": True,
        "dry_run": False,
        "alpha": None,
        "require_significance": True,
        "notify_emails": [],
        "notify_webhook_url": "",
    }


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    cleaned = dict(values)
    if isinstance(cleaned.get("notify_emails"), list):  # the same address twice is one address
        cleaned["notify_emails"] = list(dict.fromkeys(cleaned["notify_emails"]))
    if cleaned.get("notify_webhook_url") is None:
        cleaned["notify_webhook_url"] = ""
    if isinstance(cleaned.get("threshold"), int) and not isinstance(cleaned.get("threshold"), bool):
        cleaned["threshold"] = float(cleaned["threshold"])
    return cleaned


def _save(rule: TriggerRule, actor: User) -> None:
    rule._history_user = actor  # type: ignore[attr-defined]
    rule.save()


@transaction.atomic
def create_rule(*, actor: User, **fields: Any) -> TriggerRule:
    """A new rule. Required: template_id, environment, metric, operator, threshold; the rest defaults
    (rule_defaults). InvalidInput names every wrong field."""
    require_may_manage_rules(actor)
    unknown = set(fields) - set(FIELDS)
    assert not unknown, unknown
    missing = [name for name in ("template_id", "environment", "metric", "operator", "threshold") if name not in fields]
    if missing:
        raise InvalidInput.of({API_NAMES[name]: ["is required"] for name in missing})
    values = _clean({**rule_defaults(fields["metric"]), **fields})
    require_sound(values)
    rule = TriggerRule(**values, created_by=actor)
    _save(rule, actor)
    TriggerState.objects.create(rule=rule)
    return rule


def _rule_for_change(rule_id: UUID) -> TriggerRule:
    template_id = TriggerRule.objects.filter(pk=rule_id).values_list("template_id", flat=True).first()
    if template_id is None:
        raise RuleNotFound()
    lock_template(template_id)  # the engine's lock order: the template, then what hangs off it
    rule = TriggerRule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:  # deleted while we waited
        raise RuleNotFound()
    return rule


@transaction.atomic
def update_rule(*, actor: User, rule_id: UUID, changes: Mapping[str, Any]) -> TriggerRule:
    """Change some fields of a rule (the others stay); its template and environment are fixed."""
    require_may_manage_rules(actor)
    unknown = set(changes) - set(FIELDS)
    assert not unknown, unknown
    rule = _rule_for_change(rule_id)
    current = {name: getattr(rule, name) for name in FIELDS}
    moved = {
        API_NAMES[name]: ["a rule's template and environment are fixed: create another rule instead"]
        for name in FIXED
        if name in changes and changes[name] != current[name]
    }
    if moved:
        raise InvalidInput.of(moved)
    values = _clean({**current, **changes})
    require_sound(values)
    changed = [name for name in FIELDS if values[name] != current[name]]
    if not changed:
        return rule
    for name in changed:
        setattr(rule, name, values[name])
    rule.updated_at = timezone.now()
    _save(rule, actor)
    if any(name in RESTARTS_STREAK for name in changed):
        TriggerState.objects.update_or_create(
            rule=rule,
            defaults={"streak": 0, "episode_fired": False, "baseline": None, "last_tick": None, "last_status": ""},
        )
    return rule


@transaction.atomic
def delete_rule(*, actor: User, rule_id: UUID) -> None:
    """Delete a rule. Its evaluations and alerts stay, with the rule as it was (its history)."""
    require_may_manage_rules(actor)
    rule = _rule_for_change(rule_id)
    rule._history_user = actor  # type: ignore[attr-defined]
    rule.delete()


@dataclass(frozen=True)
class Preset:
    metric: str
    operator: str
    threshold: float | None  # None: the caller's daily budget
    baseline: str = Baseline.ABSOLUTE


# The original README's "Recommended Alerts" (../spec/original-system.md): success rate below 95 %,
# response time above 5 s, daily cost above a budget, error rate up 50 % from the previous version.
PRESETS = (
    Preset(Metric.SUCCESS_RATE, Operator.LT, 95.0),
    Preset(Metric.P95_RESPONSE_TIME, Operator.GT, 5000.0),
    Preset(Metric.DAILY_COST, Operator.GT, None),
    Preset(Metric.ERROR_RATE, Operator.GT, 50.0, Baseline.PREVIOUS_VERSION),
)


@transaction.atomic
def create_presets(
    *, actor: User, template_id: UUID, environment: str, daily_cost_budget: float | None = None
) -> list[TriggerRule]:
    """The recommended alerts for a template in an environment, created disabled (alerts, not rollbacks,
    until someone turns them on and chooses). The daily-cost alert needs a budget: without one it is left
    out. A preset that the template already has there (same metric, operator and baseline) is not made
    again. Returns the rules made now."""
    require_may_manage_rules(actor)
    cost = METRICS[Metric.DAILY_COST]
    if daily_cost_budget is not None and not (
        isinstance(daily_cost_budget, int | float)
        and not isinstance(daily_cost_budget, bool)
        and cost.low <= daily_cost_budget <= (cost.high or float("inf"))
    ):
        raise InvalidInput.at("dailyCostBudget", f"must be a number from 0 to {cost.high:g}")
    existing = set(
        TriggerRule.objects.filter(template_id=template_id, environment=environment).values_list(
            "metric", "operator", "baseline"
        )
    )
    made: list[TriggerRule] = []
    for preset in PRESETS:
        threshold = preset.threshold if preset.threshold is not None else daily_cost_budget
        if threshold is None or (preset.metric, preset.operator, preset.baseline) in existing:
            continue
        values = _clean(
            {
                **rule_defaults(preset.metric),
                "template_id": template_id,
                "environment": environment,
                "metric": preset.metric,
                "operator": preset.operator,
                "threshold": threshold,
                "baseline": preset.baseline,
                "enabled": False,
            }
        )
        problems = problems_of(values)
        if problems:  # the template or environment: the same for every preset
            raise InvalidInput.of(problems)
        rule = TriggerRule(**values, created_by=actor)
        _save(rule, actor)
        TriggerState.objects.create(rule=rule)
        made.append(rule)
    return made
