"""`manage.py access_report [--format text|json]`: every user's roles, maintainerships, tokens and last login,
with the tokens unused for 90 days flagged (lifecycle.releases.access)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from lifecycle.releases.access import STALE_AFTER_DAYS, UserAccess, everyones_access


def _day(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d}" if moment else "never"


class Command(BaseCommand):
    help = (
        "The access review: every user with their roles, template maintainerships, API tokens (name, created, "
        f"last used, expiry) and last login; tokens unused for {STALE_AFTER_DAYS} days are flagged. Exits 0 "
        "either way: read the flags (or count them in --format json)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, format: str, **options: Any) -> None:
        users = everyones_access()
        if format == "json":
            self.stdout.write(json.dumps([user.as_json() for user in users], indent=2))
            return
        for user in users:
            self.stdout.write(self._text(user))
        flagged = sum(1 for user in users if user.flags)
        self.stdout.write(f"{len(users)} user(s); {flagged} with something to look at.")

    @staticmethod
    def _text(user: UserAccess) -> str:
        kind = ", ".join(
            word
            for word, on in (("superuser", user.superuser), ("staff", user.staff), ("INACTIVE", not user.active))
            if on
        )
        lines = [
            f"{user.username}" + (f" <{user.email}>" if user.email else "") + (f" [{kind}]" if kind else ""),
            f"  roles: {', '.join(user.roles) or 'none'}",
            f"  maintains: {', '.join(user.maintains) or 'nothing'}",
            f"  last login: {_day(user.last_login)}; joined {_day(user.date_joined)}",
        ]
        if not user.tokens:
            lines.append("  tokens: none")
        for token in user.tokens:
            expiry = f"expires {_day(token.expires_at)}" if token.expires_at else "no expiry"
            lines.append(
                f"  token '{token.name}' ({token.prefix}…) {token.state}: created {_day(token.created_at)}, "
                f"last used {_day(token.last_used_at)}, {expiry}"
            )
        lines.extend(f"  ! {flag}" for flag in user.flags)
        return "\n".join(lines) + "\n"
