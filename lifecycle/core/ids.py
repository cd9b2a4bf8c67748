"""Time-ordered ids for tables that grow by millions of rows.

Random (v4) UUIDs scatter inserts over the whole primary-key index: about 10 times slower appends on
SQLite and 20% on PostgreSQL (../shared/research/limits.md). A version 7 UUID (RFC 9562) starts with
the time in milliseconds, so new rows land at the end of the index. Python's uuid module has uuid7 from
3.14 on; until the project requires that, this is the same layout.
"""

from __future__ import annotations

import os
import time
import uuid


def uuid7(timestamp_ms: int | None = None) -> uuid.UUID:
    """A version 7 UUID: 48 bits of Unix time in milliseconds, then 74 random bits."""
    millis = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    random_bits = int.from_bytes(os.urandom(10), "big")
    value = (millis & 0xFFFF_FFFF_FFFF) << 80 | random_bits & ((1 << 80) - 1)
    value = value & ~(0xF << 76) | (0x7 << 76)  # version 7
    value = value & ~(0x3 << 62) | (0x2 << 62)  # RFC 9562 variant
    return uuid.UUID(int=value)


def uuid7_floor(timestamp_ms: int) -> uuid.UUID:
    """The smallest version 7 UUID of a millisecond: every uuid7 made at or after it compares greater (as a
    UUID, and as SQLite's 32 hex digits), every one made before compares smaller."""
    return uuid.UUID(int=(timestamp_ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | 0x2 << 62)
