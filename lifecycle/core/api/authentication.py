"""Token authentication for integrations, shaped for the render path (the product's hottest request).

A key is looked up by its digest (lifecycle.core.tokens): the database never holds a working key. DRF's
TokenAuthentication builds an ORM query per request; ORM query construction costs about 20 times the SQLite
lookup itself (../shared/research/limits.md). This module asks the same question in one hand-written
indexed query, which the render path extends with its own columns. Nothing is cached: a revoked or expired
token, or a deactivated user, is refused by the very next request, in every worker process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from lifecycle.core.api.credentials import Credential
from lifecycle.core.api.throttling import check_anonymous
from lifecycle.core.db.lookups import QuoteName, column_of, fetch_one_query
from lifecycle.core.tokens.keys import digest_of
from lifecycle.core.tokens.models import ApiToken

User = get_user_model()

# The user columns the API needs, in the model's own field order (Model.from_db requires that order);
# any other field is loaded on first access, like a queryset's .only().
_WANTED = {"id", "username", "is_superuser", "is_staff", "is_active"}
_USER_FIELDS = [field.attname for field in User._meta.concrete_fields if field.attname in _WANTED]
# A raw cursor skips the backend's converters; SQLite returns its booleans as 0 and 1.
_BOOLEAN_POSITIONS = [i for i, name in enumerate(_USER_FIELDS) if name.startswith("is_")]
# Then the token's own columns, in this order.
_TOKEN_FIELDS = ["id", "expires_at", "revoked_at", "last_used_at"]
_TOKEN_START = len(_USER_FIELDS)

# How stale a token's last_used_at may get: it is written at most once per this time per token, so that the
# render path stays a single read (an access review asks about months, not seconds).
LAST_USED_RESOLUTION = timedelta(minutes=5)

logger = logging.getLogger(__name__)


def token_user_sql(qn: QuoteName, extra_columns: Sequence[str] = ()) -> str:
    """The query for a key's token and user: the user's columns, the token's, then `extra_columns` (whose
    %s placeholders come before the key digest's). A hot path may ask its own question in the same round
    trip this way; `credential_from_row` reads the answer."""
    user_columns = [f"u.{qn(column_of(User, name))}" for name in _USER_FIELDS]
    token_columns = [f"t.{qn(column_of(ApiToken, name))}" for name in _TOKEN_FIELDS]
    columns = ", ".join([*user_columns, *token_columns, *extra_columns])
    return (
        f"SELECT {columns} FROM {qn(ApiToken._meta.db_table)} t "
        f"JOIN {qn(User._meta.db_table)} u ON u.{qn(column_of(User, 'id'))} = t.{qn(column_of(ApiToken, 'user'))} "
        f"WHERE t.{qn(column_of(ApiToken, 'digest'))} = %s"
    )


_lookup = fetch_one_query(token_user_sql)


def _touch_sql(qn: QuoteName) -> str:
    last_used = qn(column_of(ApiToken, "last_used_at"))
    return (
        f"UPDATE {qn(ApiToken._meta.db_table)} SET {last_used} = %s "
        f"WHERE {qn(column_of(ApiToken, 'id'))} = %s AND ({last_used} IS NULL OR {last_used} < %s)"
    )


def _as_datetime(value: Any) -> datetime | None:
    # PostgreSQL's driver gives aware datetimes; SQLite's gives naive ones or Django's text form, in UTC.
    parsed = parse_datetime(value) if isinstance(value, str) else value
    if parsed is not None and timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def user_from_row(row: Sequence[Any]) -> Any:
    """The user in the first columns of a token_user_sql row (only those fields loaded)."""
    values = list(row[:_TOKEN_START])
    for position in _BOOLEAN_POSITIONS:
        values[position] = bool(values[position])
    return User.from_db(DEFAULT_DB_ALIAS, _USER_FIELDS, values)


def refusal_of(row: Sequence[Any], user: Any, now: datetime) -> str | None:
    """Why a found token may not authenticate (for the 401's message), or None when it may."""
    expires_at, revoked_at = (_as_datetime(value) for value in row[_TOKEN_START + 1 : _TOKEN_START + 3])
    if revoked_at is not None:
        return "Token revoked."
    if expires_at is not None and expires_at <= now:
        return "Token expired."
    if not user.is_active:
        return "User inactive or deleted."
    return None


def _note_use(token_id: Any, last_used_at: datetime | None, now: datetime) -> None:
    """Record that the token was used now, at most once per LAST_USED_RESOLUTION. Best effort: a busy
    database must not cost the request its answer (the next use writes it)."""
    stale_before = now - LAST_USED_RESOLUTION
    if last_used_at is not None and last_used_at >= stale_before:
        return
    conn = connections[DEFAULT_DB_ALIAS]
    adapt = conn.ops.adapt_datetimefield_value  # SQLite keeps datetimes as text, in UTC
    params = [adapt(now), token_id, adapt(stale_before)]
    try:
        # Within a transaction, in a savepoint: a failed write must not break the request's transaction.
        with (
            transaction.atomic() if conn.in_atomic_block else nullcontext(),
            conn.cursor() as cursor,
            _without_waiting(cursor, conn.vendor),
        ):
            cursor.execute(_touch_sql(conn.ops.quote_name), params)
    except DatabaseError as error:
        logger.info("could not record a token's last use: %s", error)


@contextmanager
def _without_waiting(cursor: Any, vendor: str) -> Iterator[None]:
    """On SQLite, give up at once rather than wait for another connection's write lock (up to its 20 s
    timeout): render must not wait on an ingestion's or a roll-up's transaction for a bookkeeping write.
    PostgreSQL locks only the token's row, which nothing else holds for long."""
    if vendor != "sqlite":
        yield
        return
    cursor.execute("PRAGMA busy_timeout")
    (previous,) = cursor.fetchone()
    cursor.execute("PRAGMA busy_timeout = 0")
    try:
        yield
    finally:
        cursor.execute(f"PRAGMA busy_timeout = {int(previous)}")


def credential_from_row(row: Sequence[Any] | None) -> Credential | None:
    """The credential of a token_user_sql row, or None: no such key, or a token that may not authenticate
    (TokenAuthentication then says why). Records the token's use."""
    if row is None:
        return None
    user = user_from_row(row)
    now = timezone.now()
    if refusal_of(row, user, now) is not None:
        return None
    token_id = row[_TOKEN_START]
    _note_use(token_id, _as_datetime(row[_TOKEN_START + 3]), now)
    # The id as Django writes it (SQLite's raw column holds 32 hex digits, PostgreSQL's driver a UUID).
    return Credential(user, str(token_id if isinstance(token_id, UUID) else UUID(token_id)))


def token_of(header: str | None) -> str | None:
    """The key in an `Authorization: Token <key>` header value, or None if it is not one."""
    if not header or not header.startswith("Token "):
        return None
    key = header[6:]
    return key if key and " " not in key else None


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, answered by one indexed query per request; `request.auth` is the
    Credential. A refused key counts against its address's anonymous rate limit (so guessing is limited),
    before the 401."""

    def authenticate(self, request: Request) -> tuple[Any, Credential] | None:
        try:
            return super().authenticate(request)  # type: ignore[no-any-return]
        except exceptions.AuthenticationFailed:
            check_anonymous(request._request)
            raise

    def authenticate_credentials(self, key: str) -> tuple[Any, Credential]:
        row = _lookup(digest_of(key))
        if row is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        refusal = refusal_of(row, user_from_row(row), timezone.now())
        if refusal is not None:
            raise exceptions.AuthenticationFailed(refusal)
        credential = credential_from_row(row)
        assert credential is not None
        return credential.user, credential
