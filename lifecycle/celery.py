"""The Celery app. Workers and beat start from here: `celery -A lifecycle worker|beat`."""

import os
from typing import Any

from celery import Celery
from celery.signals import (
    beat_init,
    celeryd_init,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_process_shutdown,
    worker_shutdown,
)

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


# LOGS AND METRICS (lifecycle.core.observability)
@setup_logging.connect
def _log_as_the_web_does(**kwargs: Any) -> None:
    # Connected, this signal stops Celery from setting up its own handlers and format: the worker and beat
    # log through Django's LOGGING (JSON lines with LOG_FORMAT=json), LOG_LEVEL deciding, not --loglevel.
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@task_prerun.connect
def _bind_task_to_logs(task_id: str, task: Any, **kwargs: Any) -> None:
    import structlog

    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task_id=task_id, task_name=task.name)


@task_postrun.connect
def _count_task(task: Any, state: str | None = None, **kwargs: Any) -> None:
    import structlog

    from lifecycle.core.observability.metrics import celery_tasks

    celery_tasks.labels(task=task.name, outcome=(state or "unknown").lower()).inc()
    structlog.contextvars.clear_contextvars()


_worker_metrics_dir: str | None = None


@celeryd_init.connect
def _serve_worker_metrics(**kwargs: Any) -> None:
    # The worker's main process, before the pool forks: the pool processes count into files of one folder,
    # which this process serves summed.
    from django.conf import settings

    from lifecycle.core.observability import processes

    global _worker_metrics_dir
    # A folder of its own, never one inherited from the environment (the web's, with `make run`): the web
    # empties its folder when it starts, and would sum the worker's counts into its own.
    os.environ.pop(processes.MULTIPROC_ENV, None)
    if not settings.WORKER_METRICS_PORT:
        return
    _worker_metrics_dir = processes.fresh_multiprocess_dir("worker")
    processes.serve_worker_metrics(settings.WORKER_METRICS_HOST, settings.WORKER_METRICS_PORT)


@worker_process_shutdown.connect
def _pool_process_exited(pid: int, **kwargs: Any) -> None:
    from lifecycle.core.observability import processes

    processes.process_exited(pid)


@worker_shutdown.connect
def _remove_worker_metrics(**kwargs: Any) -> None:
    from lifecycle.core.observability import processes

    if _worker_metrics_dir:
        processes.remove_multiprocess_dir(_worker_metrics_dir)
