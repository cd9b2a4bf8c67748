"""Bringing encrypted columns in line with the keys and settings (`manage.py reencrypt`): every value encrypted
with the current (first) key where its field encrypts, plain where it no longer does (a setting turned off).

Rows are visited by primary key (keyset pagination: no OFFSET that grows with the table), a batch per
transaction, so that no lock is held for long and an interrupted run loses nothing but its current batch.
Each row is rewritten only if it still holds the value that was read (a conditional UPDATE): a row changed or
deleted meanwhile (retention) is left to whoever changed it. Running it again changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction

from lifecycle.core.db.encrypted import (
    EncryptedField,
    UnreadableValue,
    decrypt_quietly,
    encrypter,
    written_with_current_key,
)
from lifecycle.core.db.sqlite import one_writer_at_a_time


@dataclass
class ColumnCounts:
    """What a run found and did in one column."""

    where: str
    encrypts: bool
    encrypted: int = 0  # plain values encrypted
    rotated: int = 0  # values re-encrypted with the current key
    decrypted: int = 0  # values stored plain again (the field no longer encrypts)
    current: int = 0  # values already as the settings want them
    unreadable: list[Any] = field(default_factory=list)  # primary keys of values no key decrypts
    changed_meanwhile: int = 0  # rows changed or deleted between reading and rewriting: left as they are

    @property
    def changed(self) -> int:
        return self.encrypted + self.rotated + self.decrypted


def encrypted_columns() -> list[tuple[type[models.Model], EncryptedField]]:
    """Every encrypted column of the installed models, history tables (django-simple-history) included."""
    found: list[tuple[type[models.Model], EncryptedField]] = []
    for model in sorted(apps.get_models(), key=lambda model: model._meta.label):
        if model._meta.proxy or not model._meta.managed:
            continue
        found += [(model, column) for column in model._meta.concrete_fields if isinstance(column, EncryptedField)]
    return found


def reencrypt_column(
    model: type[models.Model], column: EncryptedField, *, batch_size: int = 1000, dry_run: bool = False
) -> ColumnCounts:
    """Re-encrypt one column, a batch per transaction (see the module's docstring)."""
    counts = ColumnCounts(where=column.where, encrypts=column.encrypts())
    encrypt = encrypter() if counts.encrypts else None
    statements = _Statements(model, column)
    last: Any = None
    while True:
        # The transaction (and on SQLite the writers' queue) is taken before reading, so that a batch is
        # rewritten in the transaction it was read in.
        with one_writer_at_a_time(), transaction.atomic(), connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            rows = statements.read(cursor, after=last, limit=batch_size)
            updates: list[tuple[str, Any, str]] = []
            for pk, raw in rows:
                new = _new_raw(column, raw, encrypt, counts, pk)
                if new is not None:
                    updates.append((new, pk, raw))
            if updates and not dry_run:
                cursor.executemany(statements.update, updates)
                counts.changed_meanwhile += len(updates) - max(cursor.rowcount, 0)
        if len(rows) < batch_size:
            return counts
        last = rows[-1][0]


def _new_raw(column: EncryptedField, raw: str, encrypt: Any, counts: ColumnCounts, pk: Any) -> str | None:
    """What the raw value should become (None: it stays), counted."""
    token, plain = column.parse_raw(raw)
    if token is None:
        assert plain is not None
        if encrypt is None:
            counts.current += 1
            return None
        counts.encrypted += 1
        return column.raw_encrypted(encrypt(plain))
    if encrypt is not None and written_with_current_key(token):
        counts.current += 1
        return None
    try:
        plain = decrypt_quietly(token)
    except UnreadableValue:
        counts.unreadable.append(pk)
        return None
    if encrypt is None:
        counts.decrypted += 1
        return column.raw_plain(plain)
    counts.rotated += 1
    return column.raw_encrypted(encrypt(plain))


class _Statements:
    """The SQL that reads a column's non-empty values by primary key and rewrites one if it is unchanged."""

    def __init__(self, model: type[models.Model], column: EncryptedField) -> None:
        conn = connections[DEFAULT_DB_ALIAS]
        qn = conn.ops.quote_name
        assert model._meta.pk is not None
        assert isinstance(column, models.Field)
        assert model._meta.pk.column is not None
        assert column.column is not None
        table, pk, col = qn(model._meta.db_table), qn(model._meta.pk.column), qn(column.column)
        # A JSON column cannot be compared with '' on PostgreSQL (it is not JSON); its empty value is NULL.
        not_empty = f"{col} IS NOT NULL"
        if not isinstance(column, models.JSONField):
            not_empty += f" AND {col} <> ''"
        self._select = f"SELECT {pk}, {col} FROM {table} WHERE {not_empty} {{after}} ORDER BY {pk} LIMIT %s"
        # The CASTs: PostgreSQL takes text into a JSON column, and compares it with one, only through one.
        db_type = column.db_type(conn)
        self.update = (
            f"UPDATE {table} SET {col} = CAST(%s AS {db_type}) WHERE {pk} = %s AND {col} = CAST(%s AS {db_type})"
        )
        self._after = f"AND {pk} > %s"

    def read(self, cursor: Any, *, after: Any, limit: int) -> list[tuple[Any, str]]:
        if after is None:
            cursor.execute(self._select.format(after=""), [limit])
        else:
            cursor.execute(self._select.format(after=self._after), [after, limit])
        return [(pk, _as_text(raw)) for pk, raw in cursor.fetchall()]


def _as_text(raw: Any) -> str:
    """A column's raw value as text (a JSON column may come back decoded from some drivers)."""
    return raw if isinstance(raw, str) else json.dumps(raw)
