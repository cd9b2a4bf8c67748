"""Reads of webhook subscriptions and their deliveries' attempts, for superusers."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from lifecycle.core.exceptions import NotFound
from lifecycle.core.outbox.models import DeliveryAttempt
from lifecycle.core.outbox.selectors import recent_attempts
from lifecycle.core.roles import User
from lifecycle.core.webhooks.models import WebhookSubscription
from lifecycle.core.webhooks.permissions import require_may_manage_webhooks


def subscriptions(actor: User) -> QuerySet[WebhookSubscription]:
    require_may_manage_webhooks(actor)
    return WebhookSubscription.objects.select_related("created_by")


def subscription_for(actor: User, subscription_id: UUID) -> WebhookSubscription:
    require_may_manage_webhooks(actor)
    found = WebhookSubscription.objects.select_related("created_by").filter(pk=subscription_id).first()
    if found is None:
        raise NotFound("No webhook subscription has this id.")
    return found


def attempts_of(actor: User, subscription_id: UUID) -> QuerySet[DeliveryAttempt]:
    """Every attempt at delivering the subscription's events, newest first, with its delivery."""
    subscription = subscription_for(actor, subscription_id)
    return recent_attempts(source=subscription.source)
