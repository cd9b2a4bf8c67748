"""Reading a request body within the size limit (settings.MAX_REQUEST_BODY_BYTES, API.md "Conventions").

Two readers share these: the API's JSON parser (lifecycle.core.api.parsers) for bodies with a
Content-Length, and the WSGI middleware (lifecycle.core.wsgi_middleware) for chunked ones.
"""

from __future__ import annotations

from typing import IO, Any


def too_large_message(limit: int) -> str:
    return f"The request body is over the limit of {limit} bytes."


def read_at_most(stream: IO[Any], size: int) -> bytes:
    """Up to `size` bytes of `stream`: fewer only at its end (a WSGI input may return short reads)."""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        part = stream.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def drain(stream: IO[Any], limit: int) -> None:
    """Read (and drop) what the client is still sending, so that it gets to read our 413.

    A server that answers and closes while the body is still arriving makes the client see a broken
    pipe (or a reset) instead of the answer. Bounded: past ten times the limit we stop reading and let
    it break. Nothing read here is kept, and it is read in pieces of at most limit + 1 bytes (the most a
    reader of a body ever holds).
    """
    remaining = 10 * limit
    while remaining > 0:
        chunk = stream.read(min(65536, limit + 1, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
