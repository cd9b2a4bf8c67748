"""Whether a new test's fields make a test that can run: each wrong field named by its path in the API's body
(`variants[1].trafficPercentage`, `successMetrics`), so that the API and any other caller refuse the same
things in the same words (a 400, nothing stored)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from django.utils import timezone

from abtesting.models import (
    CONFIDENCE_LEVEL,
    NAME_MAX_LENGTH,
    VARIANT_ID_MAX_LENGTH,
    MetricType,
)
from lifecycle.core.environments import ENVIRONMENTS, NOT_AN_ENVIRONMENT
from templates_app.models import PromptTemplate, TemplateVersion

MAX_VARIANTS = 20
MAX_METRICS = 20
METRIC_NAME_MAX_LENGTH = 100
MAX_TEXT_LENGTH = 10_000
MINIMUM_SAMPLE_SIZE = (1, 10_000_000)
# Weights are fractions a person writes (0.7 and 0.3); floating point may leave them 1e-16 off 1.
WEIGHT_TOLERANCE = 1e-9
HUNDRED = Decimal(100)
# When the request names no success metric (the README's workflow does not): the share of executions that
# converted, which is what that workflow reads from the results.
DEFAULT_SUCCESS_METRICS: list[dict[str, Any]] = [
    {"name": "conversion_rate", "type": MetricType.CONVERSION_RATE.value, "target": None, "weight": 1.0}
]
METRIC_TYPES = ", ".join(MetricType.values)


@dataclass(frozen=True)
class CheckedVariant:
    key: str
    name: str
    description: str
    version: TemplateVersion
    traffic_percentage: Decimal
    is_control: bool


@dataclass(frozen=True)
class CheckedTest:
    """A sound test's fields, as the service stores them."""

    template: PromptTemplate
    environment: str
    name: str
    description: str
    hypothesis: str
    variants: list[CheckedVariant]
    success_metrics: list[dict[str, Any]]
    guardrail_metrics: list[dict[str, Any]]
    confidence_level: float
    minimum_sample_size: int
    start_date: datetime | None
    end_date: datetime | None
    auto_stop: bool


class Problems(dict[str, list[str]]):
    def add(self, path: str, message: str) -> None:
        self.setdefault(path, []).append(message)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _text(problems: Problems, path: str, value: Any, *, required: bool, max_length: int) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        problems.add(path, "must be a string")
        return ""
    text = value.strip()
    if required and not text:
        problems.add(path, "is required")
    elif len(text) > max_length:
        problems.add(path, f"must have at most {max_length} characters")
    return text


def _uuid(value: Any) -> UUID | None:
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            return None
    return None


def _percentage(value: Any) -> Decimal | None:
    """A percentage above 0 and at most 100, to the hundredth; None if it is not one."""
    if isinstance(value, Decimal):
        number = value
    elif is_number(value):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return None
    else:
        return None
    if not 0 < number <= HUNDRED or number != number.quantize(Decimal("0.01")):
        return None
    return number.quantize(Decimal("0.01"))


def resolve_template(template_id: Any, variants: Any) -> tuple[PromptTemplate | None, Problems]:
    """The test's template: the one named, or (none named) the template of the first variant's version."""
    problems = Problems()
    if template_id is not None:
        parsed = _uuid(template_id)
        template = PromptTemplate.objects.filter(pk=parsed).first() if parsed is not None else None
        if template is None:
            problems.add("templateId", "no template with this id")
        return template, problems
    first = variants[0] if isinstance(variants, list | tuple) and variants else None
    version_id = _uuid(first.get("template_version_id")) if isinstance(first, Mapping) else None
    version = TemplateVersion.objects.select_related("template").filter(pk=version_id).first() if version_id else None
    if version is None:
        problems.add("templateId", "is required, unless variants[0].templateVersionId names a version")
        return None, problems
    return version.template, problems


def check_test(
    *,
    template: PromptTemplate,
    environment: Any,
    name: Any,
    description: Any,
    hypothesis: Any,
    variants: Any,
    traffic_split: Any,
    success_metrics: Any,
    guardrail_metrics: Any,
    confidence_level: Any,
    minimum_sample_size: Any,
    start_date: Any,
    end_date: Any,
    auto_stop: Any,
    now: datetime | None = None,
) -> tuple[CheckedTest | None, Problems]:
    """The test's fields checked as a whole: (the test, no problems) or (None, every problem)."""
    problems = Problems()
    if environment not in ENVIRONMENTS:
        problems.add("environment", NOT_AN_ENVIRONMENT)
    checked_name = _text(problems, "name", name, required=True, max_length=NAME_MAX_LENGTH)
    checked_description = _text(problems, "description", description, required=False, max_length=MAX_TEXT_LENGTH)
    checked_hypothesis = _text(problems, "hypothesis", hypothesis, required=False, max_length=MAX_TEXT_LENGTH)
    checked_variants = _check_variants(problems, template, variants, traffic_split)
    metrics = DEFAULT_SUCCESS_METRICS if success_metrics is None else success_metrics
    checked_metrics = _check_success_metrics(problems, metrics)
    checked_guardrails = _check_guardrails(problems, [] if guardrail_metrics is None else guardrail_metrics)
    low, high = CONFIDENCE_LEVEL
    if not is_number(confidence_level) or not low <= confidence_level <= high:
        problems.add("confidenceLevel", f"must be a number from {low} to {high}")
    low_n, high_n = MINIMUM_SAMPLE_SIZE
    whole = isinstance(minimum_sample_size, int) and not isinstance(minimum_sample_size, bool)
    if not whole or not low_n <= minimum_sample_size <= high_n:
        problems.add("minimumSampleSize", f"must be a whole number from {low_n} to {high_n}")
    for path, value in (("startDate", start_date), ("endDate", end_date)):
        if value is not None and (not isinstance(value, datetime) or timezone.is_naive(value)):
            problems.add(path, "must be a date and time with a zone (ISO 8601)")
    if isinstance(end_date, datetime) and timezone.is_aware(end_date):
        if end_date <= (now or timezone.now()):
            problems.add("endDate", "must be in the future")
        elif isinstance(start_date, datetime) and timezone.is_aware(start_date) and end_date <= start_date:
            problems.add("endDate", "must be after startDate")
    if not isinstance(auto_stop, bool):
        problems.add("autoStop", "must be true or false")
    if problems:
        return None, problems
    return (
        CheckedTest(
            template=template,
            environment=environment,
            name=checked_name,
            description=checked_description,
            hypothesis=checked_hypothesis,
            variants=checked_variants,
            success_metrics=checked_metrics,
            guardrail_metrics=checked_guardrails,
            confidence_level=float(confidence_level),
            minimum_sample_size=minimum_sample_size,
            start_date=start_date,
            end_date=end_date,
            auto_stop=auto_stop,
        ),
        problems,
    )


def _check_variants(
    problems: Problems, template: PromptTemplate, variants: Any, traffic_split: Any
) -> list[CheckedVariant]:
    if not isinstance(variants, list | tuple) or not 2 <= len(variants) <= MAX_VARIANTS:
        problems.add("variants", f"must be a list of 2 to {MAX_VARIANTS} variants")
        return []
    split = _check_split(problems, traffic_split)
    version_ids = {
        parsed
        for variant in variants
        if isinstance(variant, Mapping) and (parsed := _uuid(variant.get("template_version_id"))) is not None
    }
    versions = {version.pk: version for version in TemplateVersion.objects.filter(pk__in=version_ids)}
    checked: list[CheckedVariant] = []
    seen_keys: dict[str, int] = {}
    for index, variant in enumerate(variants):
        at = f"variants[{index}]"
        if not isinstance(variant, Mapping):
            problems.add(at, "must be an object")
            continue
        key = _text(problems, f"{at}.id", variant.get("id"), required=True, max_length=VARIANT_ID_MAX_LENGTH)
        if key and key in seen_keys:
            problems.add(f"{at}.id", f"repeats the id of variants[{seen_keys[key]}]: ids must be distinct")
        elif key:
            seen_keys[key] = index
        name = _text(problems, f"{at}.name", variant.get("name"), required=False, max_length=NAME_MAX_LENGTH) or key
        description = _text(
            problems, f"{at}.description", variant.get("description"), required=False, max_length=MAX_TEXT_LENGTH
        )
        version_id = _uuid(variant.get("template_version_id"))
        version = versions.get(version_id) if version_id is not None else None
        if version is None:
            problems.add(f"{at}.templateVersionId", "no version with this id")
        elif version.template_id != template.pk:
            problems.add(f"{at}.templateVersionId", f"is a version of another template than '{template.name}'")
        percentage = _variant_percentage(problems, index, variant.get("traffic_percentage"), split, key)
        control = variant.get("control", False)
        if not isinstance(control, bool):
            problems.add(f"{at}.control", "must be true or false")
            control = False
        if version is not None and percentage is not None:
            checked.append(CheckedVariant(key, name, description, version, percentage, control))
    if split is not None and seen_keys and set(split) != set(seen_keys):
        missing = sorted(set(seen_keys) - set(split))
        unknown = sorted(set(split) - set(seen_keys))
        words = [f"no share for {', '.join(missing)}"] if missing else []
        words += [f"{', '.join(unknown)} is not a variant's id"] if unknown else []
        problems.add("trafficSplit", f"must give each variant's id its share: {'; '.join(words)}")
    if len(checked) == len(variants):
        total = sum((variant.traffic_percentage for variant in checked), Decimal(0))
        if total != HUNDRED:
            problems.add("variants", f"traffic percentages must sum to exactly 100, not {total.normalize():f}")
        controls = [variant for variant in checked if variant.is_control]
        if len(controls) > 1:
            problems.add("variants", "at most one variant may be the control (control: true)")
        elif not controls:
            first = checked[0]
            checked[0] = CheckedVariant(
                first.key, first.name, first.description, first.version, first.traffic_percentage, True
            )
    return checked


def _check_split(problems: Problems, traffic_split: Any) -> dict[str, Decimal] | None:
    if traffic_split is None:
        return None
    if not isinstance(traffic_split, Mapping):
        problems.add("trafficSplit", "must be an object: each variant's id and its percentage")
        return None
    split: dict[str, Decimal] = {}
    for key, value in traffic_split.items():
        percentage = _percentage(value)
        if percentage is None:
            problems.add(f"trafficSplit.{key}", "must be a percentage above 0 and at most 100, to the hundredth")
        else:
            split[str(key)] = percentage
    return split


def _variant_percentage(
    problems: Problems, index: int, value: Any, split: dict[str, Decimal] | None, key: str
) -> Decimal | None:
    at = f"variants[{index}]"
    given = split.get(key) if split is not None else None
    if value is None:
        if given is None:
            problems.add(f"{at}.trafficPercentage", "is required (or give it in trafficSplit)")
        return given
    percentage = _percentage(value)
    if percentage is None:
        problems.add(f"{at}.trafficPercentage", "must be a percentage above 0 and at most 100, to the hundredth")
        return None
    if given is not None and given != percentage:
        problems.add(
            f"trafficSplit.{key}",
            f"says {given.normalize():f} but {at}.trafficPercentage says {percentage.normalize():f}",
        )
    return percentage


def _metric_common(
    problems: Problems, at: str, index: int, metric: Any, names: dict[str, int]
) -> dict[str, Any] | None:
    if not isinstance(metric, Mapping):
        problems.add(at, "must be an object")
        return None
    name = _text(problems, f"{at}.name", metric.get("name"), required=True, max_length=METRIC_NAME_MAX_LENGTH)
    if name and name in names:
        problems.add(f"{at}.name", f"repeats the name of {at.split('[')[0]}[{names[name]}]: names must be distinct")
    elif name:
        names[name] = index
    kind = metric.get("type")
    if kind not in MetricType.values:
        problems.add(f"{at}.type", f"must be one of {METRIC_TYPES}")
    description = _text(
        problems, f"{at}.description", metric.get("description"), required=False, max_length=MAX_TEXT_LENGTH
    )
    return {"name": name, "type": kind, "description": description}


def _check_success_metrics(problems: Problems, metrics: Any) -> list[dict[str, Any]]:
    if not isinstance(metrics, list | tuple) or not 1 <= len(metrics) <= MAX_METRICS:
        problems.add("successMetrics", f"must be a list of 1 to {MAX_METRICS} metrics")
        return []
    checked: list[dict[str, Any]] = []
    names: dict[str, int] = {}
    for index, metric in enumerate(metrics):
        at = f"successMetrics[{index}]"
        common = _metric_common(problems, at, index, metric, names)
        if common is None:
            continue
        target = metric.get("target")
        if target is not None and not is_number(target):
            problems.add(f"{at}.target", "must be a number or null")
        weight = metric.get("weight")
        if not is_number(weight) or not 0 < weight <= 1:
            problems.add(f"{at}.weight", "must be a number above 0 and at most 1")
            continue
        checked.append({**common, "target": target, "weight": float(weight)})
    if len(checked) == len(metrics):
        total = math.fsum(metric["weight"] for metric in checked)
        if abs(total - 1) > WEIGHT_TOLERANCE:
            problems.add("successMetrics", f"weights must sum to 1, not {total:g}")
    return checked


def _check_guardrails(problems: Problems, metrics: Any) -> list[dict[str, Any]]:
    if not isinstance(metrics, list | tuple) or len(metrics) > MAX_METRICS:
        problems.add("guardrailMetrics", f"must be a list of at most {MAX_METRICS} metrics")
        return []
    checked: list[dict[str, Any]] = []
    names: dict[str, int] = {}
    for index, metric in enumerate(metrics):
        common = _metric_common(problems, f"guardrailMetrics[{index}]", index, metric, names)
        if common is not None:
            checked.append(common)
    return checked
