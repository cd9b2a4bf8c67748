"""Webhook subscriptions: where to POST which lifecycle events (their deliveries are the outbox's)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from lifecycle.core.ids import uuid7


class WebhookSubscription(models.Model):
    """Where to POST which lifecycle events (of one template, or of all): API.md's webhooks."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # The event names wanted (events.EVENTS); at least one.
    events = models.JSONField(default=list)
    # The template whose events are wanted; none: every template's. (No foreign key: this app is below
    # templates_app; a deleted template's subscription simply hears nothing more.)
    template_id = models.UUIDField(null=True, blank=True)
    # Signs every delivery (Standard Webhooks); shown once, when made or rotated, never again.
    secret = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["active"], name="webhook_subscription_active")]

    def __str__(self) -> str:
        return f"{self.url} ({', '.join(self.events)})"

    @property
    def source(self) -> str:
        """How its deliveries name it in the outbox (Delivery.source)."""
        return f"webhook:{self.pk}"

    def wants(self, event: str, template_id: str | None) -> bool:
        return (
            self.active and event in self.events and (self.template_id is None or str(self.template_id) == template_id)
        )
