"""`manage.py seed`: what a fresh installation needs before it serves. Idempotent; `make run` calls it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from lifecycle.core.broker import declare_task_queues
from lifecycle.core.roles import Role, sync_role_permissions


class Command(BaseCommand):
    help = (
        "Make sure the roles (groups) exist with their admin permissions, and the broker has its task queues. "
        "Safe to run on every start."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        created = [name for name in Role.values if not Group.objects.filter(name=name).exists()]
        sync_role_permissions()
        self.stdout.write(f"roles: {len(Role.values)} ({len(created)} created), permissions in place")
        declare_task_queues()
        self.stdout.write("broker: task queues declared")
