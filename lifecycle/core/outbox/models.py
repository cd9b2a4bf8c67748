"""What the outbox stores: a row per delivery, and a row per attempt at sending it."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition

from lifecycle.core.ids import uuid7


class Delivery(FSMModelMixin, models.Model):
    """One notification of one event: an email to its addresses, or a signed webhook POST to one URL."""

    class Channel(models.TextChoices):
        EMAIL = "email"
        WEBHOOK = "webhook"

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    # Time-ordered, and the webhook's `webhook-id`: the same on every retry, so receivers can drop repeats.
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    event = models.CharField(max_length=100)
    payload = models.JSONField()
    channel = models.CharField(max_length=10, choices=Channel.choices)
    emails = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    webhook_url = models.CharField(max_length=2000, blank=True)
    # Needed again for every retry; never shown (the admin leaves it out).
    webhook_secret = models.CharField(max_length=200, blank=True)
    # Who asked for it, as "kind:id" (e.g. "rule:<uuid>"), so their own pages can list their deliveries.
    source = models.CharField(max_length=100, blank=True)
    state = FSMField(choices=State.choices, default=State.PENDING, protected=True)
    attempts = models.PositiveIntegerField(default=0)
    # While pending: when it is due. A worker that claims it moves this past its lease, so a delivery whose
    # worker died becomes due again by itself.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=models.Q(state="pending"), name="outbox_due"),
            models.Index(fields=["source", "-created_at"], name="outbox_by_source"),
            models.Index(fields=["-created_at"], name="outbox_newest"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(channel="email", webhook_url="")
                | (models.Q(channel="webhook") & ~models.Q(webhook_url="")),
                name="outbox_one_channel",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.target} ({self.state})"

    @property
    def target(self) -> str:
        """Where it goes: the addresses of an email, the URL of a webhook."""
        return ", ".join(self.emails) if self.channel == self.Channel.EMAIL else self.webhook_url

    @transition(field=state, source=State.PENDING, target=State.DELIVERED)
    def mark_delivered(self, *, at: datetime) -> None:
        self.delivered_at = at
        self.next_attempt_at = None
        self.last_error = ""

    @transition(field=state, source=State.PENDING, target=State.FAILED)
    def mark_failed(self, *, at: datetime, error: str) -> None:
        self.failed_at = at
        self.next_attempt_at = None
        self.last_error = error


class DeliveryAttempt(models.Model):
    """One try at sending a delivery: the receiver's status code, or why there was none, and how long it took."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField()

    class Meta:
        ordering = ["delivery_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="outbox_attempt_number_unique"),
        ]

    def __str__(self) -> str:
        answer = self.status_code if self.status_code is not None else self.error
        return f"attempt {self.number}: {answer}"
