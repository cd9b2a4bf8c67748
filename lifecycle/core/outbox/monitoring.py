"""The outbox's Prometheus metric: delivery attempts (webhooks and emails), counted by the Celery worker
that made them (served on its metrics port: lifecycle.core.observability.processes)."""

from __future__ import annotations

from prometheus_client import Counter

delivery_attempts = Counter(
    "lifecycle_delivery_attempts",
    "Notification delivery attempts, by channel (webhook, email) and outcome: delivered; retry (failed, "
    "tried again later); failed (failed, no attempt left or not worth retrying).",
    ["channel", "outcome"],
)


def count_attempt(*, channel: str, delivered: bool, gave_up: bool) -> None:
    outcome = "delivered" if delivered else "failed" if gave_up else "retry"
    delivery_attempts.labels(channel=channel, outcome=outcome).inc()
