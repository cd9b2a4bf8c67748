"""Who may do what with a template: the rules every service, selector and admin page asks here.

- Everyone signed in reads templates and renders them.
- A template's maintainers are users, or every member of a group (its creator at first). Authors who
  maintain a template create its versions, submit and withdraw them, deploy them to development and edit
  the template; superusers may do all of it.
- Its maintainers (whatever their roles) and superusers change who maintains it.
Other apps build on `maintains` for their own rules (reading a template's numbers, reporting executions).
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet

from lifecycle.core.exceptions import PermissionDenied
from lifecycle.core.roles import Role, User, has_role
from templates_app.models import PromptTemplate


def _maintained_by(user: User) -> Q:
    return Q(maintainers=user) | Q(maintainer_groups__user=user)


def maintained_template_ids(user: User | AnonymousUser, template_ids: Iterable[UUID]) -> set[UUID]:
    """Those of the templates the user maintains (one query)."""
    if not isinstance(user, User) or not user.is_active:
        return set()
    wanted = set(template_ids)
    if not wanted:
        return set()
    return set(
        PromptTemplate.objects.filter(_maintained_by(user), pk__in=wanted).values_list("pk", flat=True).distinct()
    )


def maintains_any(user: User | AnonymousUser) -> bool:
    """Whether the user maintains at least one template."""
    if not isinstance(user, User) or not user.is_active:
        return False
    return PromptTemplate.objects.filter(_maintained_by(user)).exists()


def maintains(user: User | AnonymousUser, template: PromptTemplate) -> bool:
    """Whether the user is one of the template's maintainers, or in one of its maintainer groups."""
    return template.pk in maintained_template_ids(user, [template.pk])


def may_change(user: User | AnonymousUser, template: PromptTemplate) -> bool:
    """Edit the template, create its versions, submit and withdraw them, deploy them to development."""
    if not isinstance(user, User) or not user.is_active:
        return False
    return user.is_superuser or (has_role(user, Role.AUTHOR) and maintains(user, template))


def require_may_change(user: User | AnonymousUser, template: PromptTemplate, *, to: str) -> None:
    """PermissionDenied unless the user may change the template; `to` says what they tried."""
    if not may_change(user, template):
        raise PermissionDenied(
            f"To {to} you need the 'author' role and to maintain template '{template.name}' "
            "(its maintainers can add you)."
        )


def require_may_set_maintainers(user: User | AnonymousUser, template: PromptTemplate) -> None:
    """PermissionDenied unless the user maintains the template or is a superuser."""
    allowed = isinstance(user, User) and user.is_active and (user.is_superuser or maintains(user, template))
    if not allowed:
        raise PermissionDenied(f"Only the maintainers of template '{template.name}' or a superuser can change them.")


def templates_maintained_by(user: User | AnonymousUser) -> QuerySet[PromptTemplate]:
    """The templates the user maintains (one query when read; distinct, however many groups they share)."""
    if not isinstance(user, User) or not user.is_active:
        return PromptTemplate.objects.none()
    return PromptTemplate.objects.filter(pk__in=PromptTemplate.objects.filter(_maintained_by(user)).values("pk"))


def templates_changeable_by(user: User) -> QuerySet[PromptTemplate]:
    """The templates the user may change (the admin offers only these when adding a version)."""
    if not user.is_active:
        return PromptTemplate.objects.none()
    if user.is_superuser:
        return PromptTemplate.objects.all()
    if not has_role(user, Role.AUTHOR):
        return PromptTemplate.objects.none()
    return templates_maintained_by(user)
