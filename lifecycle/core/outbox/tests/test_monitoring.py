"""The outbox's metric: every delivery attempt counted by channel and outcome."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY


def attempts(outcome: str) -> float:
    labels = {"channel": "webhook", "outcome": outcome}
    return REGISTRY.get_sample_value("lifecycle_delivery_attempts_total", labels) or 0.0


@pytest.mark.django_db
def test_delivery_metric__webhook_delivered__counted_delivered(receiver, secret, notify_and_commit):
    delivered = attempts("delivered")
    notify_and_commit(event="alert.fired", payload={"n": 1}, webhook_url=receiver.url, webhook_secret=secret)
    assert len(receiver.requests) == 1
    assert attempts("delivered") - delivered == 1


@pytest.mark.django_db
def test_delivery_metric__receiver_refuses__counted_failed_once_and_not_delivered(receiver, secret, notify_and_commit):
    # Given a receiver that answers 410 (not worth retrying)
    receiver.status = 410
    failed, delivered = attempts("failed"), attempts("delivered")
    notify_and_commit(event="alert.fired", payload={"n": 1}, webhook_url=receiver.url, webhook_secret=secret)
    assert attempts("failed") - failed == 1
    assert attempts("delivered") == delivered
