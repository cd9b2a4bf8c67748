"""The default approval policies (DESIGN.md): created where missing, never changed once they exist."""

from __future__ import annotations

from typing import Any

DEFAULT_POLICIES: dict[str, list[str]] = {
    "development": [],
    "staging": ["technical", "qa"],
    "production": ["technical", "qa", "security", "business"],
}


def ensure_default_policies(policy_model: Any, stage_model: Any, group_model: Any) -> None:
    """Create each environment's default policy if it has none; an existing policy is left as edited.

    Takes the models as arguments so that the migration can pass its historical ones.
    """
    for environment, roles in DEFAULT_POLICIES.items():
        policy, created = policy_model.objects.get_or_create(environment=environment)
        if created:
            for position, role in enumerate(roles):
                group, _ = group_model.objects.get_or_create(name=role)
                stage_model.objects.create(policy=policy, position=position, role=group)
