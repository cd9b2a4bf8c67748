from celery import shared_task

from analytics.services import delete_expired_executions as delete_expired


@shared_task(name="analytics.delete_expired_executions")
def delete_expired_executions() -> int:
    """Daily, by beat: raw executions past EXECUTION_RETENTION_DAYS go; their rollups stay."""
    return delete_expired()
