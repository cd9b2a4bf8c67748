"""Output fields every app's serializers share."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field({"type": "string", "nullable": True, "description": "a username"})
class UsernameField(serializers.Field):
    """A user, shown by username (null for none): who created, submitted, decided or wrote something."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, user: Any) -> str | None:
        return user.get_username() if user is not None else None
