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
it keeps `blank` values cheap.
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


def is_encrypted(stored: Any) -> bool:
    """Whether a value as stored is encrypted (else it is plain, or empty)."""
    return isinstance(stored, str) and stored.startswith(MARKER)


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
    """What the encrypted fields share: whether they encrypt now, and the translation between the column's
    raw form and the stored text the marker is seen on (used by `manage.py reencrypt`)."""

    # The name of a boolean setting that must be on as well as the keys being set (None: the keys alone).
    encrypt_setting: str | None
    model: Any
    name: str

    def encrypts(self) -> bool:
        """Whether values written now are encrypted: keys are set (and this field's setting is on)."""
        if not settings.DATA_ENCRYPTION_KEYS:
            return False
        return self.encrypt_setting is None or bool(getattr(settings, self.encrypt_setting))

    @property
    def where(self) -> str:
        return f"{self.model._meta.label}.{self.name}"

    def stored_text(self, raw: str) -> str:
        """The column's raw value (as the database driver returns it) as stored text: the marked token, or
        the plain text."""
        return raw

    def raw_of(self, stored: str) -> str:
        """Stored text as the column's raw value (stored_text's inverse)."""
        return stored

    def _refuse_lookup(self, name: str) -> None:
        if name != "isnull" and self.encrypts():
            raise FieldError(
                f"{self.where} is encrypted at rest: the database cannot compare or search it (only isnull). "
                f"Filter on other fields and compare in Python."
            )


class EncryptedTextField(EncryptedField, models.TextField):  # type: ignore[misc]
    """A TextField whose non-empty values are encrypted at rest when DATA_ENCRYPTION_KEYS is set (and
    `encrypt_setting`, if given, is on); values are read back decrypted, plain ones as they are."""

    def __init__(self, *args: Any, encrypt_setting: str | None = None, **kwargs: Any) -> None:
        self.encrypt_setting = encrypt_setting
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.encrypt_setting is not None:
            kwargs["encrypt_setting"] = self.encrypt_setting
        return name, path, args, kwargs

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value or not self.encrypts():
            return value
        return encrypt(value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if is_encrypted(value):
            return decrypt(value, where=self.where)
        return value

    def storage_encoder(self) -> Callable[[Any], Any] | None:
        """For writes that bypass the ORM (bulk inserts): what turns a plain value into the stored one
        now, or None when values are stored as they are."""
        if not self.encrypts():
            return None
        encrypted = encrypter()
        return lambda value: encrypted(value) if value else value

    def get_lookup(self, lookup_name: str) -> Any:
        self._refuse_lookup(lookup_name)
        return super().get_lookup(lookup_name)

    def get_transform(self, name: str) -> Any:
        self._refuse_lookup(name)
        return super().get_transform(name)


class EncryptedJSONField(EncryptedField, models.JSONField):  # type: ignore[misc]
    """A JSONField whose non-null values are encrypted at rest, as EncryptedTextField's: the value's JSON is
    encrypted and stored as a JSON string (so the column keeps its JSON type on PostgreSQL). Plain values
    (objects, lists) are read as they are."""

    def __init__(self, *args: Any, encrypt_setting: str | None = None, **kwargs: Any) -> None:
        self.encrypt_setting = encrypt_setting
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.encrypt_setting is not None:
            kwargs["encrypt_setting"] = self.encrypt_setting
        return name, path, args, kwargs

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or not self.encrypts():
            return value
        return encrypt(json.dumps(value, cls=self.encoder))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        value = super().from_db_value(value, expression, connection)
        if is_encrypted(value):
            return json.loads(decrypt(value, where=self.where), cls=self.decoder)
        return value

    def stored_text(self, raw: str) -> str:
        document = json.loads(raw)
        return document if is_encrypted(document) else raw

    def raw_of(self, stored: str) -> str:
        return json.dumps(stored) if is_encrypted(stored) else stored

    def get_lookup(self, lookup_name: str) -> Any:
        self._refuse_lookup(lookup_name)
        return super().get_lookup(lookup_name)

    def get_transform(self, name: str) -> Any:
        self._refuse_lookup(name)
        return super().get_transform(name)
