"""Roles are Django groups (seeded by a migration). Services check them through `require_role`."""

from __future__ import annotations

from typing import Any

from django.db import models

from lifecycle.core.exceptions import PermissionDenied


class Role(models.TextChoices):
    AUTHOR = "author"  # writes templates and versions, submits them for review
    TECHNICAL = "technical"  # approval stages
    QA = "qa"
    SECURITY = "security"
    BUSINESS = "business"
    DEPLOYER = "deployer"  # deploys approved versions, rolls back
    ANALYST = "analyst"  # reads analytics


def roles_of(user: Any) -> frozenset[str]:
    """The names of the user's groups, read once per user object (a request's user lives one request)."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached: frozenset[str] | None = getattr(user, "_lifecycle_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._lifecycle_roles = cached
    return cached


def has_role(user: Any, *roles: str) -> bool:
    """Whether the user holds one of `roles`. Superusers hold every role (but see approvals' own-work rule)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_superuser) or not roles_of(user).isdisjoint(roles)


def require_role(user: Any, *roles: str, to: str) -> None:
    """Raise PermissionDenied unless the user holds one of `roles`; `to` says what they tried to do."""
    if not has_role(user, *roles):
        needed = " or ".join(f"'{role}'" for role in roles)
        raise PermissionDenied(f"To {to} you need the {needed} role.")
