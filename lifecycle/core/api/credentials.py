"""What a request authenticated with: shared by authentication (which makes it) and throttling (which
counts per token)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Credential:
    """Who a request's key belongs to, and which token it is (`request.auth`; throttles count per token)."""

    user: Any
    token_id: str
