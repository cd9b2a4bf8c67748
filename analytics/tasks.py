import time

from celery import shared_task
from django.conf import settings

from analytics.partitions import create_execution_partitions as create_partitions
from analytics.rollups import roll_up_pending
from analytics.services import delete_expired_executions as delete_expired
from lifecycle.core.db.sqlite import checkpoint


@shared_task(name="analytics.roll_up")
def roll_up() -> int:
    """Every ANALYTICS_ROLLUP_SECONDS, by beat: fold what is pending into the rollups, pass after pass
    while a pass leaves older batches behind (or until a run has lasted that long: the next run goes on).
    Batches stored while the last pass ran wait for the next run, so that passes stay large
    (ANALYTICS_ROLLUP_PASS_EXECUTIONS); until then queries read them raw. Safe to run on several workers at once.
    Returns how many executions it folded."""
    deadline = time.monotonic() + settings.ANALYTICS_ROLLUP_SECONDS
    rolled = 0
    while time.monotonic() < deadline:
        done = roll_up_pending(max_executions=settings.ANALYTICS_ROLLUP_PASS_EXECUTIONS)
        checkpoint()  # SQLite's WAL, written by ingestion meanwhile, copied outside the write lock
        rolled += done.executions
        if not done.more_pending:
            break
    return rolled


@shared_task(name="analytics.delete_expired_executions")
def delete_expired_executions() -> int:
    """Daily, by beat: raw executions past EXECUTION_RETENTION_DAYS go; their rollups stay."""
    return delete_expired()


@shared_task(name="analytics.create_execution_partitions")
def create_execution_partitions() -> list[str]:
    """Hourly, by beat (PostgreSQL): the executions table's partitions of today and the next days
    (analytics.partitions.DAYS_AHEAD), those missing; their names. Nothing on SQLite."""
    return create_partitions()
