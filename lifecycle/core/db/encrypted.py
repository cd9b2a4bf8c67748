"""Columns encrypted at rest, with keys from the environment (DATA_ENCRYPTION_KEYS), and their rotation.

A stored value is either plain (written before encryption was on, or while it is off) or `enc:v1:` followed by
a Fernet token (AES-128-CBC with an HMAC-SHA256, from the `cryptography` package). The marker lets both kinds
live side by side in one column, so that turning encryption on needs no downtime and `manage.py reencrypt`
can find the plain rows to encrypt them. The keys are a list: the first encrypts, every one decrypts
(MultiFernet), so a new key can be put first while rows written with the old ones stay readable until the
command has re-encrypted them.

What the database cannot do with such a column: compare or search its contents (each encryption of the same
text differs). The fields refuse every lookup but `isnull` while they encrypt, rather than answer wrongly.
Empty strings and NULLs are stored as they are: that a value is empty is not what needs protecting, and
it keeps `blank` values cheap. A plain value that itself begins with `enc:` (anyone may send such text) is
stored behind `enc:none:`, so that it is never taken for an encrypted one.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.db import models

from lifecycle.core.exceptions import DomainError

logger = logging.getLogger(__name__)

MARKER = "enc:v1:"
_MARKER_LENGTH = len(MARKER)
_LOOKS_MARKED = "enc:"
_ESCAPED = "enc:none:"  # a plain value that begins like a marked one, stored plain
_ESCAPED_LENGTH = len(_ESCAPED)


class UnreadableValue(DomainError):
    """A stored value that none of the configured keys decrypts: the server's configuration, not the
    request, is wrong; the client gets this (no traceback) and the log says which column."""

    code, status = "stored_data_unreadable", 500
    message = (
        "Stored data could not be decrypted with this server's keys (DATA_ENCRYPTION_KEYS). "
        "The server's operator has been told."
    )


@functools.lru_cache(maxsize=4)
def _ring(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet] | None:
    """The keys as Fernets: all of them (to decrypt), and the first (it encrypts). Cached by the keys, so a
    change of settings (tests) takes effect and each process builds them once."""
    if not keys:
        return None
    fernets = [Fernet(key) for key in keys]
    return MultiFernet(fernets), fernets[0]


def key_ring() -> tuple[MultiFernet, Fernet] | None:
    """The configured keys (None: none are set, nothing is encrypted)."""
    return _ring(tuple(settings.DATA_ENCRYPTION_KEYS))


def plain_stored(text: str) -> str:
    """A text as stored plain: itself, unless it begins like a marked value."""
    return _ESCAPED + text if text.startswith(_LOOKS_MARKED) else text


def plain_text(stored: str) -> str:
    """The text of a value stored plain (plain_stored's inverse)."""
    return stored[_ESCAPED_LENGTH:] if stored.startswith(_ESCAPED) else stored


def read_stored(stored: str, where: str) -> str:
    """The text of a stored string, decrypted if it is encrypted."""
    if not stored.startswith(_LOOKS_MARKED):  # nearly every plain value: one check
        return stored
    if stored.startswith(MARKER):
        return decrypt(stored, where=where)
    return plain_text(stored)


def encrypter() -> Callable[[str], str]:
    """The function that encrypts a text with the current (first) key, looked up once for many values (bulk
    writes). ImproperlyConfigured without keys: callers ask only when a field says it encrypts."""
    ring = key_ring()
    if ring is None:
        raise ImproperlyConfigured("Encrypting needs DATA_ENCRYPTION_KEYS.")
    encrypt = ring[1].encrypt

    def encrypted(text: str) -> str:
        return MARKER + encrypt(text.encode()).decode("ascii")

    return encrypted


def encrypt(text: str) -> str:
    """`text` encrypted with the current key, as it is stored."""
    return encrypter()(text)


def decrypt(stored: str, *, where: str = "a value") -> str:
    """The text of an encrypted stored value; UnreadableValue (logged, naming `where`) if no key reads it."""
    try:
        return decrypt_quietly(stored)
    except UnreadableValue:
        keys = len(settings.DATA_ENCRYPTION_KEYS)
        if keys:
            logger.error(
                "%s could not be decrypted with any of the %d keys in DATA_ENCRYPTION_KEYS: was the key it was "
                "written with removed? (manage.py reencrypt --dry-run counts such values)",
                where,
                keys,
            )
        else:
            logger.error("%s is encrypted but DATA_ENCRYPTION_KEYS is not set: it cannot be read", where)
        raise


def decrypt_quietly(stored: str) -> str:
    """decrypt, without logging (for callers that count failures themselves)."""
    ring = key_ring()
    if ring is None:
        raise UnreadableValue()
    try:
        return ring[0].decrypt(stored[_MARKER_LENGTH:].encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise UnreadableValue() from None


def written_with_current_key(stored: str) -> bool:
    """Whether an encrypted stored value was written with the current (first) key: rotation is done for it."""
    ring = key_ring()
    if ring is None:
        return False
    try:
        ring[1].decrypt(stored[_MARKER_LENGTH:].encode("ascii"))
    except (InvalidToken, UnicodeError):
        return False
    return True


class EncryptedField:
    """What the encrypted fields share: whether they encrypt now, refusing lookups, and (for
    `manage.py reencrypt`, which reads and writes columns raw) the translation between a column's raw value
    and its token or plain text."""

    # The name of a boolean setting that must be on as well as the keys being set (None: the keys alone).
    encrypt_setting: str | None
    model: Any
    name: str

    def __init__(self, *args: Any, encrypt_setting: str | None = None, **kwargs: Any) -> None:
        self.encrypt_setting = encrypt_setting
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()  # type: ignore[misc]
        if self.encrypt_setting is not None:
            kwargs["encrypt_setting"] = self.encrypt_setting
        return name, path, args, kwargs

    def get_lookup(self, lookup_name: str) -> Any:
        self._refuse_lookup(lookup_name)
        return super().get_lookup(lookup_name)  # type: ignore[misc]

    def get_transform(self, name: str) -> Any:
        self._refuse_lookup(name)
        return super().get_transform(name)  # type: ignore[misc]

    def encrypts(self) -> bool:
        """Whether values written now are encrypted: keys are set (and this field's setting is on)."""
        if not settings.DATA_ENCRYPTION_KEYS:
            return False
        return self.encrypt_setting is None or bool(getattr(settings, self.encrypt_setting))

    @property
    def where(self) -> str:
        return f"{self.model._meta.label}.{self.name}"

    def parse_raw(self, raw: str) -> tuple[str | None, str | None]:
        """A non-empty raw value (as the database driver returns it) as (its token, None) if encrypted, else
        (None, the plain text that encrypting it would encrypt)."""
        if raw.startswith(MARKER):
            return raw, None
        return None, plain_text(raw)

    def raw_encrypted(self, token: str) -> str:
        """A token as the column's raw value."""
        return token

    def raw_plain(self, text: str) -> str:
        """A plain text (as parse_raw gives it) as the column's raw value."""
        return plain_stored(text)

    def _refuse_lookup(self, name: str) -> None:
        if name != "isnull" and self.encrypts():
            raise FieldError(
                f"{self.where} is encrypted at rest: the database cannot compare or search it (only isnull). "
                f"Filter on other fields and compare in Python."
            )


class EncryptedTextField(EncryptedField, models.TextField):  # type: ignore[misc]
    """A TextField whose non-empty values are encrypted at rest when DATA_ENCRYPTION_KEYS is set (and
    `encrypt_setting`, if given, is on); values are read back decrypted, plain ones as they are."""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value) if self.encrypts() else plain_stored(value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return read_stored(value, self.where) if value else value

    def storage_encoder(self) -> Callable[[Any], Any]:
        """For writes that bypass the ORM (bulk inserts): what turns a value into the one stored now, as
        get_prep_value would (looked up once for many values)."""
        if not self.encrypts():
            return lambda value: plain_stored(value) if value else value
        encrypted = encrypter()
        return lambda value: encrypted(value) if value else value


class EncryptedJSONField(EncryptedField, models.JSONField):  # type: ignore[misc]
    """A JSONField whose non-null values are encrypted at rest, as EncryptedTextField's: the value's JSON is
    encrypted and stored as a JSON string (so the column keeps its JSON type on PostgreSQL). Plain values
    (objects, lists) are read as they are."""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None:
            return value
        if self.encrypts():
            return encrypt(json.dumps(value, cls=self.encoder))
        return plain_stored(value) if isinstance(value, str) else value

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        value = super().from_db_value(value, expression, connection)
        if isinstance(value, str) and value.startswith(_LOOKS_MARKED):
            if value.startswith(MARKER):
                return json.loads(decrypt(value, where=self.where), cls=self.decoder)
            return plain_text(value)
        return value

    # Raw values are JSON documents; an encrypted value is a JSON string holding the token, and the plain
    # text that is encrypted is the value's JSON.
    def parse_raw(self, raw: str) -> tuple[str | None, str | None]:
        document = json.loads(raw)
        if isinstance(document, str) and document.startswith(MARKER):
            return document, None
        if isinstance(document, str):
            return None, json.dumps(plain_text(document))
        return None, raw

    def raw_encrypted(self, token: str) -> str:
        return json.dumps(token)

    def raw_plain(self, text: str) -> str:
        document = json.loads(text)
        return json.dumps(plain_stored(document)) if isinstance(document, str) else text
