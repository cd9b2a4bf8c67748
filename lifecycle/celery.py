"""The Celery app. Workers and beat start from here: `celery -A lifecycle worker|beat`."""

import os
from typing import Any

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifecycle.settings")

app = Celery("lifecycle")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Trigger rules keep their tasks in their own package of the releases app.
app.autodiscover_tasks(["lifecycle.releases.rules"])


@app.on_after_finalize.connect
def _schedule_periodic_tasks(sender: Celery, **kwargs: Any) -> None:
    from django.conf import settings

    sender.add_periodic_task(settings.HEARTBEAT_SECONDS, sender.signature("core.record_heartbeat"))
    sender.add_periodic_task(
        settings.APPROVAL_REMINDER_CHECK_MINUTES * 60, sender.signature("approvals.remind_pending_reviewers")
    )
    sender.add_periodic_task(24 * 3600, sender.signature("analytics.delete_expired_executions"))
    # Hourly for days created a week ahead: a day missed by a run (a lock not had) is made by the next.
    sender.add_periodic_task(3600, sender.signature("analytics.create_execution_partitions"))
    sender.add_periodic_task(settings.ANALYTICS_ROLLUP_SECONDS, sender.signature("analytics.roll_up"))
    sender.add_periodic_task(settings.OUTBOX_SWEEP_SECONDS, sender.signature("core.sweep_notifications"))
    sender.add_periodic_task(
        settings.ROLLBACK_EVALUATION_SECONDS, sender.signature("releases.evaluate_rollback_triggers")
    )
    sender.add_periodic_task(60, sender.signature("abtesting.stop_ended_tests"))


@beat_init.connect
def _heartbeat_on_start(sender: Any, **kwargs: Any) -> None:
    # An interval schedule first fires one interval after start; /api/health should not report the
    # worker missing for that long after `make run`.
    app.send_task("core.record_heartbeat")
