"""What an API key looks like, and the digest it is stored and looked up by."""

from __future__ import annotations

import hashlib
import secrets

# Keys made here start with this, so that secret scanners (and people) recognise a leaked one.
KEY_PREFIX = "plt_"
# Shown in lists next to the name: the marker and 8 of the key's random characters.
SHOWN_CHARACTERS = len(KEY_PREFIX) + 8


def new_key() -> str:
    """A new key: 240 random bits, URL-safe; no one guesses it, so its plain SHA-256 is a safe digest."""
    return KEY_PREFIX + secrets.token_urlsafe(30)


def digest_of(key: str) -> str:
    """The stored form of a key (hex SHA-256). A slow password hash would buy nothing for random keys and
    cost every request its time."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def shown_part(key: str) -> str:
    return key[:SHOWN_CHARACTERS]
