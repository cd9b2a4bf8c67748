"""Who may roll back (the README's "Who may do what"). Checked by the services and selectors, which take the
acting user, so the API and the admin obey the same rules.

- Validate a rollback and roll back to a chosen version: `deployer`. Validation shows the target's recorded
  performance, which deployers need to choose a target, although they do not read analytics otherwise.
- Emergency rollback to the last good version: `deployer` or `security` (on-call people of either).
- Force a rollback whose target breaks the current version's callers: superusers only.
- Read what was live where, and every rollback: everyone signed in (like a template's history).
Superusers hold every role.
"""

from __future__ import annotations

from lifecycle.core.exceptions import PermissionDenied
from lifecycle.core.roles import Role, User, require_role

ROLL_BACK = (Role.DEPLOYER,)
ROLL_BACK_IN_EMERGENCY = (Role.DEPLOYER, Role.SECURITY)


def require_may_roll_back(user: User, *, to: str = "roll back") -> None:
    require_role(user, *ROLL_BACK, to=to)


def require_may_roll_back_in_emergency(user: User) -> None:
    require_role(user, *ROLL_BACK_IN_EMERGENCY, to="roll back in an emergency")


def require_may_force(user: User) -> None:
    """Forcing past a breaking variable change: superusers only, since every caller of the template may fail."""
    if not (user.is_active and user.is_superuser):
        raise PermissionDenied("Only superusers may force a rollback whose target breaks the variable interface.")
