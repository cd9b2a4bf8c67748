"""Webhook subscriptions (superusers manage them) and `publish`, which every app calls inside the transaction
of a lifecycle event: one outbox delivery per subscription that wants it, sent by a worker after commit,
retried with backoff, each attempt recorded (lifecycle.core.outbox)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from lifecycle.core.exceptions import InvalidInput
from lifecycle.core.ids import uuid7
from lifecycle.core.outbox.services import new_webhook_secret, notify
from lifecycle.core.outbox.webhooks import check_webhook_destination
from lifecycle.core.roles import User
from lifecycle.core.webhooks.events import EVENTS
from lifecycle.core.webhooks.models import WebhookSubscription
from lifecycle.core.webhooks.permissions import require_may_manage_webhooks
from lifecycle.core.webhooks.selectors import subscription_for

MAX_DESCRIPTION = 200

logger = logging.getLogger(__name__)


def _events(value: object) -> list[str]:
    if not isinstance(value, list) or not value:
        raise InvalidInput.at("events", "must be a non-empty list of event names")
    unknown = [str(event)[:100] for event in value if event not in EVENTS]
    if unknown:
        raise InvalidInput.at("events", f"unknown events {unknown}: choose from {', '.join(EVENTS)}")
    return list(dict.fromkeys(value))


def checked_template_id(value: object) -> UUID | None:
    """A template's id (or None: every template), or InvalidInput naming `templateId`."""
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        raise InvalidInput.at("templateId", f"{str(value)[:100]!r} is not a template id") from None


def _description(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION or "\x00" in value:
        raise InvalidInput.at("description", f"must be text of at most {MAX_DESCRIPTION} characters")
    return value


def create_subscription(
    *,
    actor: User,
    url: str,
    events: list[str],
    template_id: UUID | str | None = None,
    description: str = "",
    active: bool = True,
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its signing secret (shown to the caller once; never again)."""
    require_may_manage_webhooks(actor)
    secret = new_webhook_secret()
    subscription = WebhookSubscription.objects.create(
        url=check_webhook_destination(url),
        events=_events(events),
        template_id=checked_template_id(template_id),
        description=_description(description),
        active=bool(active),
        secret=secret,
        created_by=actor,
    )
    return subscription, secret


def update_subscription(*, actor: User, subscription_id: UUID, changes: Mapping[str, Any]) -> WebhookSubscription:
    """Change any of url, events, template_id, description, active."""
    with transaction.atomic():
        subscription = subscription_for(actor, subscription_id)
        subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        if "url" in changes:
            subscription.url = check_webhook_destination(changes["url"])
        if "events" in changes:
            subscription.events = _events(changes["events"])
        if "template_id" in changes:
            subscription.template_id = checked_template_id(changes["template_id"])
        if "description" in changes:
            subscription.description = _description(changes["description"])
        if "active" in changes:
            subscription.active = bool(changes["active"])
        subscription.updated_at = timezone.now()
        subscription.save()
    return subscription


def rotate_secret(*, actor: User, subscription_id: UUID) -> tuple[WebhookSubscription, str]:
    """A new signing secret (shown once) for the deliveries written from now on. Retries of deliveries
    written before keep the secret they were written with: a receiver accepts both until those are done
    (Standard Webhooks receivers may hold several secrets)."""
    subscription = subscription_for(actor, subscription_id)
    secret = new_webhook_secret()
    WebhookSubscription.objects.filter(pk=subscription.pk).update(secret=secret, updated_at=timezone.now())
    subscription.secret = secret
    return subscription, secret


def delete_subscription(*, actor: User, subscription_id: UUID) -> None:
    """No more deliveries for it; those already written stay in the outbox (and are still sent)."""
    subscription_for(actor, subscription_id).delete()


def actor_json(actor: User | None) -> dict[str, Any] | None:
    """Who caused an event, as payloads name them; None for the system (a rule, a schedule)."""
    if actor is None or not getattr(actor, "pk", None):
        return None
    return {"id": actor.pk, "username": actor.get_username()}


def publish(*, event: str, actor: User | None, template_id: UUID | str | None, data: Mapping[str, Any]) -> int:
    """Queue `event` for every active subscription that wants it (and the template, if it names one): how
    many deliveries were written. Call it inside the event's transaction: a change rolled back sends nothing.

    Never raises into the change that caused it: the deliveries are written in a savepoint, and a failure
    there (the database refusing a write, a bug) is logged and leaves the change as it was. The payload
    carries the event's id (the same for every subscription), its type, time and actor, and `data` (the
    objects' ids and versions)."""
    assert event in EVENTS, event
    try:
        with transaction.atomic():
            return _publish(event, actor, template_id, data)
    except Exception:
        logger.exception("Event %s: its webhook deliveries could not be written; the change stands", event)
        return 0


def _publish(event: str, actor: User | None, template_id: UUID | str | None, data: Mapping[str, Any]) -> int:
    template = str(template_id) if template_id is not None else None
    active = WebhookSubscription.objects.filter(active=True).only("pk", "url", "secret", "events", "template_id")
    wanting = [subscription for subscription in active if subscription.wants(event, template)]
    if not wanting:
        return 0
    payload = {
        "eventId": str(uuid7()),
        "type": event,
        "occurredAt": timezone.now(),
        "actor": actor_json(actor),
        "templateId": template,
        **data,
    }
    for subscription in wanting:
        notify(
            event=event,
            payload=payload,
            webhook_url=subscription.url,
            webhook_secret=subscription.secret,
            source=subscription.source,
        )
    return len(wanting)
