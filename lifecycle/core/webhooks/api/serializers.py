"""The webhook subscriptions' API shapes (camelCase, as API.md writes them)."""

from __future__ import annotations

from rest_framework import serializers

from lifecycle.core.api.inputs import StrictBooleanField, StrictCharField
from lifecycle.core.outbox.models import Delivery
from lifecycle.core.outbox.webhooks import MAX_URL_LENGTH
from lifecycle.core.webhooks.events import EVENTS
from lifecycle.core.webhooks.services import MAX_DESCRIPTION, MAX_TEMPLATES

EVENT_HELP = "; ".join(f"`{name}`: {meaning}" for name, meaning in EVENTS.items())


class SubscriptionInput(serializers.Serializer):
    url = StrictCharField(
        max_length=MAX_URL_LENGTH,
        help_text="http(s); not a loopback, link-local or private address unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES",
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=list(EVENTS)), min_length=1, help_text=EVENT_HELP
    )
    templates = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=MAX_TEMPLATES,
        help_text="only these templates' events (default: every template's)",
    )
    description = StrictCharField(max_length=MAX_DESCRIPTION, required=False, allow_blank=True)
    active = StrictBooleanField(required=False, help_text="default true")


class SubscriptionChangeInput(SubscriptionInput):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for field in self.fields.values():
            field.required = False


class SubscriptionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField()
    description = serializers.CharField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=list(EVENTS)))
    templates = serializers.ListField(child=serializers.UUIDField())
    active = serializers.BooleanField()
    createdBy = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class SubscriptionWithSecretOutput(SubscriptionOutput):
    secret = serializers.CharField(help_text="signs every delivery (Standard Webhooks); shown this once only")


class AttemptOutput(serializers.Serializer):
    number = serializers.IntegerField()
    attemptedAt = serializers.DateTimeField(source="attempted_at")
    statusCode = serializers.IntegerField(source="status_code", allow_null=True)
    error = serializers.CharField()
    durationMs = serializers.IntegerField(source="duration_ms")


class DeliveryOutput(serializers.Serializer):
    id = serializers.UUIDField(help_text="the `webhook-id` header: the same on every retry")
    event = serializers.CharField()
    status = serializers.ChoiceField(source="state", choices=Delivery.State.choices)
    attempts = serializers.IntegerField()
    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at", allow_null=True)
    lastError = serializers.CharField(source="last_error")
    createdAt = serializers.DateTimeField(source="created_at")
    deliveredAt = serializers.DateTimeField(source="delivered_at", allow_null=True)
    payload = serializers.JSONField()
    attemptLog = AttemptOutput(source="attempt_log.all", many=True, help_text="newest first")
