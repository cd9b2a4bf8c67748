"""The rule engine's Prometheus metric: evaluations, counted by the Celery worker that made them (served on
its metrics port: lifecycle.core.observability.processes)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import Counter

rule_evaluations = Counter(
    "lifecycle_rule_evaluations",
    "Trigger rule evaluations, by verdict: ok, breach, insufficient_data, error.",
    ["status"],
)


def count_evaluations(statuses: Iterable[str]) -> None:
    for status, times in Tally(statuses).items():
        rule_evaluations.labels(status=status).inc(times)
