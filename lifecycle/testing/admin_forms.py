"""The admin as tests use it: signed-in clients, and the POST data of its forms as a browser sends them."""

from __future__ import annotations

from io import StringIO
from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client


def person(username: str, role: str | None = None, *, superuser: bool = False) -> Client:
    """A signed-in browser for a user made by `manage.py create_api_token USERNAME --groups ROLE`."""
    options = {"groups": role} if role else {}
    call_command("create_api_token", username, superuser=superuser, stdout=StringIO(), stderr=StringIO(), **options)
    client = Client()
    client.user = User.objects.get(username=username)  # type: ignore[attr-defined]
    client.force_login(client.user)  # type: ignore[attr-defined]
    return client


def policy_form(policy: Any, roles: list[str], description: str = "") -> dict[str, str]:
    """The admin's approval policy form giving `policy` the stages `roles`, in order: existing rows are
    reused in order, rows beyond `roles` are deleted, and new rows are added."""
    stages = list(policy.stages.order_by("position"))
    rows = max(len(roles), len(stages))
    data = {
        "description": description,
        "stages-TOTAL_FORMS": str(rows),
        "stages-INITIAL_FORMS": str(len(stages)),
        "stages-MIN_NUM_FORMS": "0",
        "stages-MAX_NUM_FORMS": "1000",
    }
    for index in range(rows):
        if index < len(stages):
            data[f"stages-{index}-id"] = str(stages[index].pk)
        data[f"stages-{index}-policy"] = str(policy.pk)
        if index < len(roles):
            data[f"stages-{index}-position"] = str(index)
            data[f"stages-{index}-role"] = str(Group.objects.get(name=roles[index]).pk)
        else:
            data[f"stages-{index}-position"] = str(stages[index].position)
            data[f"stages-{index}-role"] = str(stages[index].role_id)
            data[f"stages-{index}-DELETE"] = "on"
    return data
