from __future__ import annotations

from collections.abc import Iterator

import pytest

from lifecycle.core.outbox.services import new_webhook_secret
from lifecycle.testing.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local webhook receiver answering 200 (set `.status`, `.statuses`, `.delay` or `.hang` to change it)."""
    with Receiver().running() as running:
        yield running


@pytest.fixture
def secret() -> str:
    return new_webhook_secret()


@pytest.fixture
def notify_and_commit(django_capture_on_commit_callbacks):
    """notify(**kwargs) in a transaction that commits: its first attempts run at once (Celery is eager in
    tests), as a worker runs them right after the caller's commit. Returns the deliveries, as sent."""
    from lifecycle.core.outbox.services import notify

    def run(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            deliveries = notify(**kwargs)
        for delivery in deliveries:
            delivery.refresh_from_db()
        return deliveries

    return run


@pytest.fixture
def sent_deliveries(receiver, secret):
    """sent_deliveries(count, source="rule:1", statuses=()): `count` webhook deliveries to `receiver`, each
    attempted once, the attempts answered with `statuses` in turn, then 200."""
    from django.db import transaction

    from lifecycle.core.outbox.services import deliver, notify

    def make(count, *, source="rule:1", statuses=()):
        receiver.statuses = list(statuses)
        made = []
        for n in range(count):
            with transaction.atomic():  # inside the test's transaction: its on_commit never runs
                [delivery] = notify(
                    event="alert.fired",
                    payload={"n": n},
                    webhook_url=receiver.url,
                    webhook_secret=secret,
                    source=source,
                )
            deliver(delivery_id=delivery.pk)
            made.append(delivery)
        return made

    return make
