"""The POST data of admin forms, as a browser would send them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group


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
