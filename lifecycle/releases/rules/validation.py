"""Whether a rule's fields make a rule that can work: each wrong field named by its API name (a 400), so
the API, the admin and the presets refuse the same things in the same words."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from lifecycle.core.environments import ENVIRONMENTS, NOT_AN_ENVIRONMENT
from lifecycle.core.exceptions import InvalidInput
from lifecycle.core.outbox.services import check_webhook_url
from lifecycle.core.outbox.webhooks import DestinationUnresolved, forbidden_destination
from lifecycle.releases.rules.definitions import (
    ALPHA,
    CONSECUTIVE_BREACHES,
    COOLDOWN_MINUTES,
    DAY_MINUTES,
    MAX_EMAILS,
    MAX_URL_LENGTH,
    METRICS,
    MIN_EXECUTIONS,
    PERCENT_CHANGE,
    WINDOW_MINUTES,
    Action,
    Baseline,
    Metric,
    Operator,
    number,
)
from templates_app.models import PromptTemplate

# Model field -> the API's name for it (error paths, API.md's rule).
API_NAMES = {
    "template_id": "templateId",
    "environment": "environment",
    "metric": "metric",
    "operator": "operator",
    "threshold": "threshold",
    "baseline": "baseline",
    "window_minutes": "windowMinutes",
    "min_executions": "minExecutions",
    "consecutive_breaches": "consecutiveBreaches",
    "cooldown_minutes": "cooldownMinutes",
    "action": "action",
    "enabled": "enabled",
    "dry_run": "dryRun",
    "alpha": "alpha",
    "require_significance": "requireSignificance",
    "notify_emails": "notify.emails",
    "notify_webhook_url": "notify.webhookUrl",
}

_BOUNDED = {
    "window_minutes": WINDOW_MINUTES,
    "min_executions": MIN_EXECUTIONS,
    "consecutive_breaches": CONSECUTIVE_BREACHES,
    "cooldown_minutes": COOLDOWN_MINUTES,
}
_CHOICES = {
    "metric": Metric.values,
    "operator": Operator.values,
    "baseline": Baseline.values,
    "action": Action.values,
}
_http_url = URLValidator(schemes=["http", "https"])


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def problems_of(values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every problem of a whole rule's fields (model names in, API names out); empty if it is sound."""
    problems: dict[str, list[str]] = {}

    def refuse(name: str, message: str) -> None:
        problems.setdefault(API_NAMES[name], []).append(message)

    if not PromptTemplate.objects.filter(pk=values["template_id"]).exists():
        refuse("template_id", "no template with this id")
    if values["environment"] not in ENVIRONMENTS:
        refuse("environment", NOT_AN_ENVIRONMENT)
    for name, choices in _CHOICES.items():
        if values[name] not in choices:
            refuse(name, f"must be one of {', '.join(choices)}")
    for name, (low, high) in _BOUNDED.items():
        if not _is_whole(values[name]) or not low <= values[name] <= high:
            refuse(name, f"must be a whole number from {low} to {high}")
    for name in ("enabled", "dry_run", "require_significance"):
        if not isinstance(values[name], bool):
            refuse(name, "must be true or false")
    alpha = values["alpha"]
    if alpha is not None and (not _is_number(alpha) or not ALPHA[0] <= alpha <= ALPHA[1]):
        refuse(
            "alpha",
            f"must be null (the default: 0.01 for rollback rules, 0.05 for alerts) or from {ALPHA[0]} to {ALPHA[1]}",
        )
    _check_notify(values, refuse)
    if values["metric"] in METRICS and values["baseline"] in Baseline.values and values["operator"] in Operator.values:
        _check_threshold(values, refuse)
        if values["metric"] == Metric.DAILY_COST and values["window_minutes"] != DAY_MINUTES:
            refuse("window_minutes", f"daily_cost always reads the last 24 hours: {DAY_MINUTES} (or leave it out)")
    return problems


def _check_threshold(values: Mapping[str, Any], refuse: Any) -> None:
    metric, operator, threshold = values["metric"], values["operator"], values["threshold"]
    if not _is_number(threshold):
        refuse("threshold", "must be a number")
        return
    if values["baseline"] == Baseline.PREVIOUS_VERSION:
        if metric == Metric.DAILY_COST:
            refuse("baseline", "daily_cost compares with an absolute budget only: use absolute")
            return
        low, high = PERCENT_CHANGE
        if not low < threshold <= high:
            refuse(
                "threshold",
                f"against the previous version, a percent change above {number(low)} and at most {number(high)}",
            )
        elif operator == Operator.LT and threshold >= 100:
            refuse("threshold", "a drop (lt) of 100 % or more can never happen: use a percent change below 100")
        return
    info = METRICS[metric]
    unit = {"%": " (a percentage)", "ms": " (milliseconds)", "/5": " (satisfaction, 1 to 5)"}.get(info.unit, "")
    if threshold < info.low or (info.high is not None and threshold > info.high):
        span = (
            f"from {number(info.low)} to {number(info.high)}"
            if info.high is not None
            else f"at least {number(info.low)}"
        )
        refuse("threshold", f"for {metric}, a value {span}{unit}")
    elif operator == Operator.LT and threshold <= info.low:
        refuse("operator", f"{metric} is never below {number(info.low)}: with lt the threshold must be above it")
    elif operator == Operator.GT and info.high is not None and threshold >= info.high:
        refuse("operator", f"{metric} is never above {number(info.high)}: with gt the threshold must be below it")


def _check_notify(values: Mapping[str, Any], refuse: Any) -> None:
    emails = values["notify_emails"]
    if not isinstance(emails, list) or len(emails) > MAX_EMAILS:
        refuse("notify_emails", f"must be a list of at most {MAX_EMAILS} email addresses")
    else:
        for email in emails:
            try:
                if not isinstance(email, str):
                    raise ValidationError("not a string")
                validate_email(email)
            except ValidationError:
                refuse("notify_emails", f"{email!r} is not an email address")
    url = values["notify_webhook_url"]
    if not isinstance(url, str):
        refuse("notify_webhook_url", "must be an http(s) URL or null")
    elif url:
        try:
            if len(url) > MAX_URL_LENGTH:
                raise ValidationError("too long")
            _http_url(url)
            check_webhook_url(url)  # what the outbox will accept when the rule fires
        except (ValidationError, InvalidInput):
            refuse("notify_webhook_url", f"must be an http or https URL of at most {MAX_URL_LENGTH} characters")
        else:
            try:
                problem = forbidden_destination(url)
            except DestinationUnresolved as exc:
                problem = str(exc)
            if problem is not None:
                refuse("notify_webhook_url", f"must reach a public address: {problem}")


def require_sound(values: Mapping[str, Any]) -> None:
    problems = problems_of(values)
    if problems:
        raise InvalidInput.of(problems)
