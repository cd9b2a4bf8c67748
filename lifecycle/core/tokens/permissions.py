"""Who may see and manage which API tokens: everyone their own; superusers everyone's."""

from __future__ import annotations

from typing import Any

from lifecycle.core.exceptions import PermissionDenied


def may_manage_every_token(actor: Any) -> bool:
    return bool(getattr(actor, "is_active", False) and getattr(actor, "is_superuser", False))


def may_manage_tokens_of(actor: Any, owner_id: int) -> bool:
    return may_manage_every_token(actor) or (getattr(actor, "is_active", False) and actor.pk == owner_id)


def require_may_manage_tokens_of(actor: Any, owner_id: int) -> None:
    if not may_manage_tokens_of(actor, owner_id):
        raise PermissionDenied("Only superusers manage other users' tokens.")
