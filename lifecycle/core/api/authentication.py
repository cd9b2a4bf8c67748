"""Token authentication for integrations, shaped for the render path (the product's hottest request).

DRF's TokenAuthentication builds an ORM query per request; ORM query construction costs about 20 times
the SQLite lookup itself (../shared/research/limits.md). This class asks the same question in one
hand-written indexed query. Nothing is cached: a revoked token or a deactivated user is refused by
the very next request, in every worker process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from lifecycle.core.db.lookups import QuoteName, column_of, fetch_one_query

User = get_user_model()

# The user columns the API needs, in the model's own field order (Model.from_db requires that order);
# any other field is loaded on first access, like a queryset's .only().
_WANTED = {"id", "username", "is_superuser", "is_staff", "is_active"}
_USER_FIELDS = [field.attname for field in User._meta.concrete_fields if field.attname in _WANTED]
# A raw cursor skips the backend's converters; SQLite returns its booleans as 0 and 1.
_BOOLEAN_POSITIONS = [i for i, name in enumerate(_USER_FIELDS) if name.startswith("is_")]


def token_user_sql(qn: QuoteName, extra_columns: Sequence[str] = ()) -> str:
    """The query for a token's user: its columns first, then `extra_columns` (whose %s placeholders
    come before the token's). A hot path may ask its own question in the same round trip this way."""
    columns = ", ".join([*(f"u.{qn(column_of(User, name))}" for name in _USER_FIELDS), *extra_columns])
    return (
        f"SELECT {columns} FROM {qn(Token._meta.db_table)} t "
        f"JOIN {qn(User._meta.db_table)} u ON u.{qn(column_of(User, 'id'))} = t.{qn(column_of(Token, 'user'))} "
        f"WHERE t.{qn(column_of(Token, 'key'))} = %s"
    )


_lookup = fetch_one_query(token_user_sql)


def user_from_row(row: Sequence[Any]) -> Any:
    """The user in the first columns of a token_user_sql row (only those fields loaded)."""
    values = list(row[: len(_USER_FIELDS)])
    for position in _BOOLEAN_POSITIONS:
        values[position] = bool(values[position])
    return User.from_db(DEFAULT_DB_ALIAS, _USER_FIELDS, values)


def user_for_token(key: str) -> Any | None:
    """The user the token belongs to (active or not), or None for an unknown token."""
    row = _lookup(key)
    return user_from_row(row) if row is not None else None


def token_of(header: str | None) -> str | None:
    """The key in an `Authorization: Token <key>` header value, or None if it is not one."""
    if not header or not header.startswith("Token "):
        return None
    key = header[6:]
    return key if key and " " not in key else None


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, answered by one indexed query per request."""

    def authenticate_credentials(self, key: str) -> tuple[Any, str]:
        user = user_for_token(key)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return user, key
