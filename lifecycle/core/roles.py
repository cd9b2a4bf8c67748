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


REVIEWER_ROLES = (Role.TECHNICAL, Role.QA, Role.SECURITY, Role.BUSINESS)


def sync_role_permissions() -> None:
    """Make every role exist with exactly the admin permissions its work needs, and no more.

    Each app says what its models give each role in its AppConfig's `role_permissions`
    ({role: [codename, ...]}), so this kernel knows no app. A group that an app names as a reviewer
    (AppConfig.extra_reviewer_groups(), e.g. a policy stage's group beyond the built-in roles) gets what the
    built-in reviewer roles get. Runs after every migrate, from `seed`, and when a policy is saved.
    Permissions granted to these groups by hand are removed: the roles are the product's, not a site's.
    """
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    for config in apps.get_app_configs():  # permissions of apps migrated in this same run may not exist yet
        create_permissions(config, verbosity=0)
    wanted: dict[str, set[tuple[str, str]]] = {role: set() for role in Role.values}
    for config in apps.get_app_configs():
        for role, codenames in getattr(config, "role_permissions", {}).items():
            wanted.setdefault(role, set()).update((config.label, codename) for codename in codenames)
    reviewer = set().union(*(wanted[role] for role in REVIEWER_ROLES))
    for config in apps.get_app_configs():
        for name in getattr(config, "extra_reviewer_groups", lambda: [])():
            wanted[name] = wanted.get(name, set()) | reviewer
    for role, pairs in wanted.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = [
            Permission.objects.get(content_type__app_label=label, codename=codename) for label, codename in pairs
        ]
        group.permissions.set(permissions)
