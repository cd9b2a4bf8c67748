"""The access review (the original system's "review access regularly"): every user, what they may do, and
which keys they hold, with the tokens nobody has used for a while flagged. Read by `manage.py access_report`
and by the admin's page for superusers.

It lives at the top: it reads users, roles and tokens (lifecycle.core) and maintainerships (templates_app).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from lifecycle.core.exceptions import PermissionDenied
from lifecycle.core.roles import User
from lifecycle.core.tokens.models import ApiToken
from templates_app.models import PromptTemplate

STALE_AFTER_DAYS = 90


@dataclass(frozen=True)
class TokenAccess:
    name: str
    prefix: str
    state: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    # Live, and not used in the last STALE_AFTER_DAYS (never used: made that long ago): revoke it?
    unused: bool


@dataclass(frozen=True)
class UserAccess:
    username: str
    email: str
    active: bool
    superuser: bool
    staff: bool
    roles: list[str]
    # "name" for a template maintained directly, "name (via group)" through a maintainer group.
    maintains: list[str]
    last_login: datetime | None
    date_joined: datetime
    tokens: list[TokenAccess] = field(default_factory=list)

    @property
    def flags(self) -> list[str]:
        flags = [f"token '{token.name}' unused for {STALE_AFTER_DAYS}+ days" for token in self.tokens if token.unused]
        if not self.active and any(token.state == "active" for token in self.tokens):
            flags.append("inactive user with live tokens")
        return flags

    def as_json(self) -> dict[str, Any]:
        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "username": self.username,
            "email": self.email,
            "active": self.active,
            "superuser": self.superuser,
            "staff": self.staff,
            "roles": self.roles,
            "maintains": self.maintains,
            "lastLogin": iso(self.last_login),
            "dateJoined": iso(self.date_joined),
            "tokens": [
                {
                    "name": token.name,
                    "prefix": token.prefix,
                    "state": token.state,
                    "createdAt": iso(token.created_at),
                    "lastUsedAt": iso(token.last_used_at),
                    "expiresAt": iso(token.expires_at),
                    "unused": token.unused,
                }
                for token in self.tokens
            ],
            "flags": self.flags,
        }


def access_review(actor: User) -> list[UserAccess]:
    """The review, for a superuser (it shows every user's access)."""
    if not (actor.is_active and actor.is_superuser):
        raise PermissionDenied("Only superusers review everyone's access.")
    return everyones_access()


def everyones_access(now: datetime | None = None) -> list[UserAccess]:
    """Every user's access, by username: in a handful of queries, whatever the number of users. For
    trusted callers (access_review, the access_report command run by an operator)."""
    now = now or timezone.now()
    stale_before = now - timedelta(days=STALE_AFTER_DAYS)

    roles: dict[int, list[str]] = defaultdict(list)
    for user_id, role in User.groups.through.objects.values_list("user_id", "group__name").order_by("group__name"):
        roles[user_id].append(role)

    maintains: dict[int, list[str]] = defaultdict(list)
    for user_id, name in PromptTemplate.maintainers.through.objects.values_list("user_id", "prompttemplate__name"):
        maintains[user_id].append(name)
    by_group: dict[int, list[str]] = defaultdict(list)
    for group_id, name in PromptTemplate.maintainer_groups.through.objects.values_list(
        "group_id", "prompttemplate__name"
    ):
        by_group[group_id].append(name)
    for user_id, group_id in User.groups.through.objects.filter(group_id__in=by_group).values_list(
        "user_id", "group_id"
    ):
        maintains[user_id].extend(f"{name} (via group)" for name in by_group[group_id])

    tokens: dict[int, list[TokenAccess]] = defaultdict(list)
    for token in ApiToken.objects.order_by("created_at"):
        state = token.state_now
        last_seen = token.last_used_at or token.created_at
        tokens[token.user_id].append(
            TokenAccess(
                name=token.name,
                prefix=token.prefix,
                state=state,
                created_at=token.created_at,
                last_used_at=token.last_used_at,
                expires_at=token.expires_at,
                unused=state == "active" and last_seen < stale_before,
            )
        )

    return [
        UserAccess(
            username=user.username,
            email=user.email,
            active=user.is_active,
            superuser=user.is_superuser,
            staff=user.is_staff,
            roles=roles[user.pk],
            maintains=sorted(maintains[user.pk]),
            last_login=user.last_login,
            date_joined=user.date_joined,
            tokens=tokens[user.pk],
        )
        for user in User.objects.order_by("username")
    ]
