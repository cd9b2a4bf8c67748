from celery import shared_task
from django.utils import timezone

from lifecycle.core.models import WorkerHeartbeat

# Celery's autodiscovery imports this module only: importing the outbox's tasks here registers them.
from lifecycle.core.outbox.tasks import deliver_notification, sweep_notifications

__all__ = ["deliver_notification", "record_heartbeat", "sweep_notifications"]


@shared_task(name="core.record_heartbeat")
def record_heartbeat() -> None:
    """Scheduled by beat, run by a worker: its timestamp in /api/health shows both are alive."""
    WorkerHeartbeat.objects.update_or_create(name="worker", defaults={"beat_at": timezone.now()})
