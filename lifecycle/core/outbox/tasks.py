"""The outbox's Celery tasks: each is one call of a service, safe to run twice or on several workers at once."""

from __future__ import annotations

from uuid import UUID

from celery import shared_task

from lifecycle.core.outbox import services


@shared_task(name="core.deliver_notification")
def deliver_notification(delivery_id: str) -> None:
    """Queued by notify when the caller's transaction commits: the first attempt, at once."""
    services.deliver(delivery_id=UUID(delivery_id))


@shared_task(name="core.sweep_notifications")
def sweep_notifications() -> int:
    """Scheduled by beat every OUTBOX_SWEEP_SECONDS: retries that are due, and what a stopped worker left."""
    return services.deliver_due()
