"""The webhook subscriptions' API shapes (camelCase, as API.md writes them)."""

from __future__ import annotations

from rest_framework import serializers

from lifecycle.core.api.inputs import StrictBooleanField, StrictCharField
from lifecycle.core.outbox.models import Delivery
from lifecycle.core.outbox.webhooks import MAX_URL_LENGTH
from lifecycle.core.webhooks.events import EVENTS
from lifecycle.core.webhooks.services import MAX_DESCRIPTION

EVENT_HELP = "; ".join(f"`{name}`: {meaning}" for name, meaning in EVENTS.items())


class SubscriptionInput(serializers.Serializer):
    url = StrictCharField(
        max_length=MAX_URL_LENGTH,
        help_text="http(s); not a loopback, link-local or private address unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES",
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=list(EVENTS)), min_length=1, help_text=EVENT_HELP
    )
    templateId = serializers.UUIDField(
        required=False, allow_null=True, help_text="only this template's events (default: every template's)"
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
    templateId = serializers.UUIDField(source="template_id", allow_null=True)
    active = serializers.BooleanField()
    createdBy = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class SubscriptionWithSecretOutput(SubscriptionOutput):
    secret = serializers.CharField(help_text="signs every delivery (Standard Webhooks); shown this once only")


class AttemptOutput(serializers.Serializer):
    """One attempt at delivering one event to the subscription's URL."""

    deliveryId = serializers.UUIDField(source="delivery_id", help_text="the `webhook-id` header, the same on retries")
    event = serializers.CharField(source="delivery.event")
    number = serializers.IntegerField(help_text="1 for the first attempt at this delivery, 2 for its retry, ...")
    attemptedAt = serializers.DateTimeField(source="attempted_at")
    statusCode = serializers.IntegerField(source="status_code", allow_null=True, help_text="null: no answer")
    error = serializers.CharField(help_text="empty when delivered")
    durationMs = serializers.IntegerField(source="duration_ms")
    deliveryStatus = serializers.ChoiceField(
        source="delivery.state", choices=Delivery.State.choices, help_text="where the delivery stands now"
    )
