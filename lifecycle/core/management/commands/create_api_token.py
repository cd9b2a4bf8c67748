"""`manage.py create_api_token USERNAME [--groups g1,g2] [--superuser] [--name N] [--expires-in-days D]`:
the user, created if needed, and a new API token of theirs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from lifecycle.core.exceptions import DomainError, InvalidInput
from lifecycle.core.tokens.services import MAX_LIFETIME, checked_name, free_name, issue_token


class Command(BaseCommand):
    help = (
        "Create USERNAME if needed, add it to the given groups (roles), and print a new API token of theirs alone "
        "on the last line. Safe to run again: the user is found again, and their earlier tokens keep working (keys "
        "are stored as digests, so a token cannot be shown twice: each run makes one)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--groups", default="", help="comma-separated roles, e.g. author,deployer")
        parser.add_argument("--superuser", action="store_true", help="make the user a superuser (and staff)")
        parser.add_argument(
            "--name", default="default", help="what the token is for (e.g. checkout-service); made unique with (2)…"
        )
        parser.add_argument("--expires-in-days", type=int, default=None, help="the token stops working after this")

    @transaction.atomic
    def handle(
        self,
        *args: Any,
        username: str,
        groups: str,
        superuser: bool,
        name: str,
        expires_in_days: int | None,
        **options: Any,
    ) -> None:
        try:
            token_name = checked_name(name)
        except InvalidInput as error:
            raise CommandError(f"--name {error.fields['name'][0]}") from None
        if expires_in_days is not None and not 1 <= expires_in_days <= MAX_LIFETIME.days:
            raise CommandError(f"--expires-in-days must be from 1 to {MAX_LIFETIME.days}")
        names = [group.strip() for group in groups.split(",") if group.strip()]
        found = {group.name: group for group in Group.objects.filter(name__in=names)}
        unknown = sorted(set(names) - set(found))
        if unknown:
            known = ", ".join(Group.objects.order_by("name").values_list("name", flat=True))
            raise CommandError(f"Unknown group(s): {', '.join(unknown)}. Known groups: {known}.")

        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()  # API only until someone sets a password (manage.py changepassword)
        if superuser:
            user.is_superuser = user.is_staff = True
        if any(group.permissions.exists() for group in found.values()):
            user.is_staff = True  # reviewers, authors, deployers work in the admin, with their roles' permissions
        user.save()
        user.groups.add(*found.values())
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        try:
            token, key = issue_token(owner=user, name=free_name(user, token_name), expires_at=expires_at)
        except DomainError as error:  # at the user's live-token limit, or a name taken in between
            raise CommandError(error.message) from None

        roles = ", ".join(sorted(user.groups.values_list("name", flat=True))) or "none"
        state = "created" if created else "exists"
        kind = "superuser" if user.is_superuser else "user"
        expiry = f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
        self.stderr.write(f"{kind} '{username}' {state}; roles: {roles}; new token '{token.name}'{expiry}")
        self.stdout.write(key)
