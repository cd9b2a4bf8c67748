"""Who may manage trigger rules: deployers and superusers (they decide what rolls back by itself).
Everyone signed in may read rules and alerts."""

from __future__ import annotations

from lifecycle.core.roles import Role, User, has_role, require_role


def may_manage_rules(user: User) -> bool:
    return has_role(user, Role.DEPLOYER)


def require_may_manage_rules(user: User, *, to: str = "manage rollback triggers") -> None:
    require_role(user, Role.DEPLOYER, to=to)
