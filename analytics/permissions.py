"""Who may report executions and read the numbers they make (the README's roles paragraph).

- Reporting executions: the `integration` role (service accounts) and superusers, for any template; a
  template's maintainers, for that template. Reports steer the numbers that A/B results and automatic
  rollback act on, so nobody else may send them.
- Reading a template's numbers (metrics, analytics, A/B results, the dashboard): analysts and deployers
  (who deploy, roll back and promote on them) and superusers, for every template; its maintainers, for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.db.models import QuerySet

from lifecycle.core.exceptions import PermissionDenied
from lifecycle.core.roles import Role, User, has_role
from templates_app.models import PromptTemplate
from templates_app.permissions import maintained_template_ids, maintains, maintains_any, templates_maintained_by

_REPORTERS = "To report executions you need the 'integration' role, or to maintain the template"


def require_may_report_at_all(user: User) -> None:
    """PermissionDenied unless the user may report for some template: checked before a report is read,
    so that someone who may report for none learns nothing from the checks of what they sent."""
    if not has_role(user, Role.INTEGRATION) and not maintains_any(user):  # superusers hold every role
        raise PermissionDenied(f"{_REPORTERS}.")


def require_may_report(user: User, template_ids: Iterable[UUID]) -> None:
    """PermissionDenied unless the user may report executions of every one of these templates."""
    if has_role(user, Role.INTEGRATION):
        return
    wanted = set(template_ids)
    refused = wanted - maintained_template_ids(user, wanted)
    if refused:
        names = sorted(PromptTemplate.objects.filter(pk__in=refused).values_list("name", flat=True))
        raise PermissionDenied(f"{_REPORTERS}; you do not maintain {', '.join(repr(name) for name in names)}.")


# Who reads every template's numbers (superusers hold every role).
_READ_EVERY = (Role.ANALYST, Role.DEPLOYER)


def may_read_numbers(user: User, template: PromptTemplate) -> bool:
    """Whether the user may read the template's numbers."""
    return has_role(user, *_READ_EVERY) or maintains(user, template)


def require_may_read_numbers(user: User, template: PromptTemplate) -> None:
    """PermissionDenied unless the user may read the template's metrics and analytics."""
    if not may_read_numbers(user, template):
        raise PermissionDenied(
            f"To read the numbers of template '{template.name}' you need the 'analyst' or 'deployer' role, "
            "or to maintain it."
        )


def templates_with_numbers_for(user: User) -> QuerySet[PromptTemplate]:
    """The templates whose numbers the user may read: every one, or those they maintain."""
    if has_role(user, *_READ_EVERY):
        return PromptTemplate.objects.all()
    return templates_maintained_by(user)
