"""The Celery side: the tasks run the services (eagerly in tests), and beat sweeps on schedule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lifecycle.core.outbox import tasks
from lifecycle.core.outbox.models import Delivery
from lifecycle.core.outbox.services import notify


@pytest.mark.django_db
def test_notify__on_commit__queues_the_deliver_task(receiver, secret, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.deliver_notification, "delay", lambda **kwargs: queued.append(kwargs))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        [delivery] = notify(event="alert.fired", payload={}, webhook_url=receiver.url, webhook_secret=secret)
        assert queued == []  # nothing before the commit
    for callback in callbacks:
        callback()

    assert queued == [{"delivery_id": str(delivery.pk)}]


@pytest.mark.django_db
def test_deliver_notification_task__through_celery__sends_the_delivery(receiver, secret, monkeypatch):
    with transaction.atomic():  # inside the test's transaction: its on_commit never runs
        [delivery] = notify(event="alert.fired", payload={"a": 1}, webhook_url=receiver.url, webhook_secret=secret)

    result = tasks.deliver_notification.delay(delivery_id=str(delivery.pk))

    assert result.successful()
    assert receiver.ids() == [str(delivery.pk)]
    assert Delivery.objects.get().state == Delivery.State.DELIVERED


@pytest.mark.django_db
def test_sweep_notifications_task__through_celery__sends_what_is_due(receiver, secret):
    with transaction.atomic():
        [delivery] = notify(event="alert.fired", payload={"a": 1}, webhook_url=receiver.url, webhook_secret=secret)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    result = tasks.sweep_notifications.delay()

    assert result.get() == 1
    assert receiver.ids() == [str(delivery.pk)]
    assert tasks.sweep_notifications.delay().get() == 0


def test_beat__sweeps_every_outbox_sweep_seconds():
    from lifecycle.celery import app

    app.loader.import_default_modules()
    app.finalize()
    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert schedule["core.sweep_notifications"] == settings.OUTBOX_SWEEP_SECONDS == 10.0
    assert {"core.sweep_notifications", "core.deliver_notification"} <= set(app.tasks)
