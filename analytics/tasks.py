import time

from celery import shared_task
from django.conf import settings

from analytics.rollups import PASS_EXECUTIONS, roll_up_pending
from analytics.services import delete_expired_executions as delete_expired
from lifecycle.core.db import checkpoint


@shared_task(name="analytics.roll_up")
def roll_up() -> int:
    """Every ANALYTICS_ROLLUP_SECONDS, by beat: fold pending batches into the rollups, in full passes while
    there are enough for one, then what is left (or until a run has lasted that long: the next run goes
    on). Batches stored meanwhile wait for the next run, so that passes stay large (PASS_EXECUTIONS); until
    then queries read them raw. Safe to run on several workers at once."""
    deadline = time.monotonic() + settings.ANALYTICS_ROLLUP_SECONDS
    rolled = 0
    while time.monotonic() < deadline:
        count = roll_up_pending(max_executions=PASS_EXECUTIONS)
        checkpoint()  # SQLite's WAL, written by ingestion meanwhile, copied outside the write lock
        rolled += count
        if count < PASS_EXECUTIONS:
            break
    return rolled


@shared_task(name="analytics.delete_expired_executions")
def delete_expired_executions() -> int:
    """Daily, by beat: raw executions past EXECUTION_RETENTION_DAYS go; their rollups stay."""
    return delete_expired()
