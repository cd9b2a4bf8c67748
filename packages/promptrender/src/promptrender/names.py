"""What makes two template names the same name, for the server's uniqueness and the client's lookups."""

from __future__ import annotations


def name_key(name: str) -> str:
    """The name case-folded, without surrounding spaces ("École" and " ÉCOLE" are one name)."""
    return name.strip().casefold()
