"""Roles are Django groups (seeded by a migration). Services check them through `require_role`.

Who may do what is decided by the services and selectors, which take the acting user (`User`): a view
passes `acting_user(request)` and never checks a permission itself. Each app keeps the rules about its
own objects in its `permissions.py` (e.g. who maintains a template: templates_app.permissions).
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, Group, User
from django.db import models
from django.http import HttpRequest
from rest_framework.request import Request

from lifecycle.core.db.lookups import QuoteName, column_of, fetch_one_query
from lifecycle.core.exceptions import DomainError, PermissionDenied

# `User` is the acting user of every service: the project uses Django's own user model (not swapped).


class Role(models.TextChoices):
    AUTHOR = "author"  # writes templates and versions, submits them for review
    TECHNICAL = "technical"  # approval stages
    QA = "qa"
    SECURITY = "security"
    BUSINESS = "business"
    DEPLOYER = "deployer"  # deploys approved versions, rolls back
    ANALYST = "analyst"  # reads analytics
    INTEGRATION = "integration"  # service accounts: render, resolve, report executions for any template


class NotSignedIn(DomainError):
    code, status, message = "not_authenticated", 401, "Authentication credentials were not provided."


def acting_user(request: HttpRequest | Request) -> User:
    """The signed-in user a request acts as (views are behind IsAuthenticated, the admin behind staff login)."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise NotSignedIn()
    return user


def _group_names_sql(qn: QuoteName) -> str:
    through = User.groups.through
    return (
        f"SELECT g.{qn(column_of(Group, 'name'))} FROM {qn(through._meta.db_table)} ug "
        f"JOIN {qn(Group._meta.db_table)} g ON g.{qn(column_of(Group, 'id'))} = ug.{qn(column_of(through, 'group'))} "
        f"WHERE ug.{qn(column_of(through, 'user'))} = %s"
    )


# Hand-written: roles are read on every ingestion request (who may report), and the ORM's query building
# costs ten times the lookup (lifecycle.core.db.lookups).
_group_names = fetch_one_query(_group_names_sql)


def roles_of(user: User | AnonymousUser) -> frozenset[str]:
    """The names of the user's groups, read once per user object (a request's user lives one request)."""
    if not isinstance(user, User) or not user.is_authenticated:
        return frozenset()
    cached: frozenset[str] | None = vars(user).get("_lifecycle_roles")
    if cached is None:
        cached = vars(user)["_lifecycle_roles"] = frozenset(name for (name,) in _group_names.all_rows(user.pk))
    return cached


def has_role(user: User | AnonymousUser, *roles: str) -> bool:
    """Whether the user holds one of `roles`. Superusers hold every role (but see approvals' own-work rule)."""
    if not isinstance(user, User) or not user.is_active:
        return False
    return user.is_superuser or not roles_of(user).isdisjoint(roles)


def require_role(user: User | AnonymousUser, *roles: str, to: str) -> None:
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
