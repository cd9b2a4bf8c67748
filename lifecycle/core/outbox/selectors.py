"""Reads of the outbox, for the pages that show deliveries (webhook subscriptions, rules, the admin)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from lifecycle.core.outbox.models import Delivery, DeliveryAttempt


def recent_deliveries(
    *, source: str | None = None, event: str | None = None, state: str | None = None
) -> QuerySet[Delivery]:
    """Deliveries newest first, each with its attempts (newest first, loaded in one more query for the page),
    optionally only those of one `source` ("kind:id", as given to notify), `event` or `state`."""
    deliveries = Delivery.objects.prefetch_related(
        Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("-number"))
    ).order_by("-created_at", "-id")
    if source is not None:
        deliveries = deliveries.filter(source=source)
    if event is not None:
        deliveries = deliveries.filter(event=event)
    if state is not None:
        deliveries = deliveries.filter(state=state)
    return deliveries


def recent_attempts(*, source: str | None = None) -> QuerySet[DeliveryAttempt]:
    """Every attempt newest first, with its delivery (event, target) in the same query; optionally only the
    attempts of one `source`'s deliveries."""
    attempts = DeliveryAttempt.objects.select_related("delivery").order_by("-attempted_at", "-delivery_id", "-number")
    if source is not None:
        attempts = attempts.filter(delivery__source=source)
    return attempts
