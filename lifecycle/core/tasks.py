from celery import shared_task
from django.utils import timezone

from lifecycle.core.models import WorkerHeartbeat


@shared_task(name="core.record_heartbeat")
def record_heartbeat() -> None:
    """Scheduled by beat, run by a worker: its timestamp in /api/health shows both are alive."""
    WorkerHeartbeat.objects.update_or_create(name="worker", defaults={"beat_at": timezone.now()})
