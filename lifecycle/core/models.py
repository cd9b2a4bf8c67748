from django.db import models

# The outbox's models belong to this app (label "core"): importing them here is what registers them.
from lifecycle.core.outbox.models import Delivery, DeliveryAttempt
from lifecycle.core.tokens.models import ApiToken
from lifecycle.core.webhooks.models import WebhookSubscription

__all__ = ["ApiToken", "Delivery", "DeliveryAttempt", "WebhookSubscription", "WorkerHeartbeat"]


class WorkerHeartbeat(models.Model):
    """When a background process (the Celery worker, through beat's schedule) last proved it runs."""

    name = models.CharField(max_length=50, primary_key=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
