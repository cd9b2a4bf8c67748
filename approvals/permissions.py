"""Who may take part in an approval request, beyond deciding its stages (approvals.services._refusal holds
those rules: the stage's role, never the version's author, one stage per person, in order).

- Submitting a version and withdrawing its request: authors who maintain the template, and superusers
  (templates_app.permissions.may_change).
- Commenting on a request: whoever submitted it, the template's maintainers, holders of one of its stages'
  roles, deployers and superusers.
- A reviewer's queue: that reviewer, and superusers.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from approvals.models import ApprovalRequest
from lifecycle.core.exceptions import PermissionDenied
from lifecycle.core.roles import Role, User, has_role
from templates_app.permissions import maintains


def may_comment(user: User | AnonymousUser, request: ApprovalRequest) -> bool:
    if not isinstance(user, User) or not user.is_active:
        return False
    if user.is_superuser or user.pk == request.submitted_by_id or has_role(user, Role.DEPLOYER):
        return True
    stage_roles = request.stages.values_list("role__name", flat=True)
    return has_role(user, *stage_roles) or maintains(user, request.version.template)


def require_may_comment(user: User | AnonymousUser, request: ApprovalRequest) -> None:
    if not may_comment(user, request):
        raise PermissionDenied(
            "Comments on a request are for whoever submitted it, the template's maintainers, its stages' "
            "reviewers, deployers and superusers."
        )


def require_may_read_queue(user: User, reviewer: User | None) -> None:
    """A reviewer's queue (None: someone else's) is read by that reviewer or a superuser. Refused the same
    way whether or not the reviewer exists, so that the answer does not tell which usernames exist."""
    if reviewer is not None and reviewer.pk == user.pk:
        return
    if not user.is_superuser:
        raise PermissionDenied("A reviewer's queue is read by that reviewer or a superuser.")
