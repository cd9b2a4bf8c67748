"""Reads of webhook subscriptions and their deliveries, for superusers."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from lifecycle.core.outbox.models import Delivery
from lifecycle.core.outbox.selectors import recent_deliveries
from lifecycle.core.roles import User
from lifecycle.core.webhooks.models import WebhookSubscription
from lifecycle.core.webhooks.services import require_may_manage_webhooks, subscription_for


def subscriptions(actor: User) -> QuerySet[WebhookSubscription]:
    require_may_manage_webhooks(actor)
    return WebhookSubscription.objects.all()


def deliveries_of(actor: User, subscription_id: UUID) -> QuerySet[Delivery]:
    """The subscription's deliveries, newest first, with their attempts."""
    subscription = subscription_for(actor, subscription_id)
    return recent_deliveries(source=subscription.source)
