"""`manage.py create_api_token USERNAME [--groups g1,g2] [--superuser]`: a user's API token, created if needed."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = (
        "Create USERNAME if needed, add it to the given groups (roles), and print its API token alone on the "
        "last line. Safe to run again: the same user keeps the same token."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--groups", default="", help="comma-separated roles, e.g. author,deployer")
        parser.add_argument("--superuser", action="store_true", help="make the user a superuser (and staff)")

    @transaction.atomic
    def handle(self, *args: Any, username: str, groups: str, superuser: bool, **options: Any) -> None:
        names = [name.strip() for name in groups.split(",") if name.strip()]
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
        token, _ = Token.objects.get_or_create(user=user)

        roles = ", ".join(sorted(user.groups.values_list("name", flat=True))) or "none"
        state = "created" if created else "exists"
        kind = "superuser" if user.is_superuser else "user"
        self.stderr.write(f"{kind} '{username}' {state}; roles: {roles}")
        self.stdout.write(token.key)
