"""Who may manage webhook subscriptions: superusers (subscriptions send every team's events anywhere)."""

from __future__ import annotations

from typing import Any

from lifecycle.core.exceptions import PermissionDenied


def require_may_manage_webhooks(actor: Any) -> None:
    if not (getattr(actor, "is_active", False) and getattr(actor, "is_superuser", False)):
        raise PermissionDenied("Only superusers manage webhook subscriptions.")
