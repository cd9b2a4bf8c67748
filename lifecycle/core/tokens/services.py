"""Making and revoking API tokens. The key is returned once, to the caller that made it; only its digest
is stored (lifecycle.core.tokens.keys)."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from lifecycle.core.exceptions import Conflict, InvalidInput, PermissionDenied
from lifecycle.core.roles import User
from lifecycle.core.tokens.keys import digest_of, new_key, shown_part
from lifecycle.core.tokens.models import ApiToken
from lifecycle.core.tokens.permissions import may_manage_every_token, require_may_manage_tokens_of
from lifecycle.core.tokens.selectors import token_for

MAX_NAME = 100
# The furthest expiry a token may be given (the command's --expires-in-days too): null means never.
MAX_LIFETIME = timedelta(days=3650)
# Live tokens per user: one per integration is the intent; this only bounds what a runaway script makes.
MAX_LIVE_TOKENS = 100


class NameTaken(Conflict):
    code = "token_name_taken"
    message = "A live token of this user already has this name: revoke it, or choose another name."


class TooManyTokens(Conflict):
    code = "too_many_tokens"
    message = f"This user has {MAX_LIVE_TOKENS} live tokens already: revoke some first."


def checked_name(value: object) -> str:
    name = value.strip() if isinstance(value, str) else ""
    # No control or format characters (category C: e.g. a right-to-left override would make a name read
    # as another in the admin and the access review).
    if not name or len(name) > MAX_NAME or any(unicodedata.category(character)[0] == "C" for character in name):
        raise InvalidInput.at(
            "name", f"must be text of 1 to {MAX_NAME} characters, without control or format characters"
        )
    return name


def checked_expiry(value: datetime | None) -> datetime | None:
    """An expiry in the future, and within MAX_LIFETIME (None: never expires)."""
    if value is None:
        return None
    now = timezone.now()
    if value <= now:
        raise InvalidInput.at("expiresAt", "must be in the future")
    if value > now + MAX_LIFETIME:
        raise InvalidInput.at("expiresAt", f"must be within {MAX_LIFETIME.days // 365} years (or null: never)")
    return value


class TokenCannotMakeTokens(PermissionDenied):
    code = "token_cannot_make_tokens"
    message = (
        "A token cannot make tokens (a leaked one could outlive its revocation): sign in (the admin, or "
        "/api/docs/ signed in), or ask a superuser (the admin) or an operator (manage.py create_api_token)."
    )


class OnlyThisToken(PermissionDenied):
    code = "only_this_token"
    message = "With a token you may revoke that token only: sign in to revoke your others."


def create_token(
    *,
    actor: User,
    name: str,
    expires_at: datetime | None = None,
    owner: User | None = None,
    acting_token_id: str | None = None,
) -> tuple[ApiToken, str]:
    """A new token of `owner` (default: the actor; another user's: superusers only) and its key, which
    this answer alone holds. Never for a request authenticated by a token (`acting_token_id`), as GitHub
    does: a leaked key could otherwise make itself a successor that outlives its revocation."""
    if acting_token_id is not None:
        raise TokenCannotMakeTokens()
    owner = owner or actor
    require_may_manage_tokens_of(actor, owner.pk)
    return issue_token(owner=owner, name=checked_name(name), expires_at=checked_expiry(expires_at), created_by=actor)


def check_room_for(owner: User, name: str) -> None:
    """NameTaken or TooManyTokens, if a new token of `owner` named `name` would be refused (a form's early
    word; issue_token decides again, under the owner's lock)."""
    live = ApiToken.objects.filter(user=owner, revoked_at__isnull=True)
    if live.filter(name=name).exists():
        raise NameTaken()
    if live.count() >= MAX_LIVE_TOKENS:
        raise TooManyTokens()


def issue_token(
    *, owner: User, name: str, expires_at: datetime | None = None, created_by: User | None = None
) -> tuple[ApiToken, str]:
    """A new token and its key, for callers that decided already who may have it (create_token, the
    create_api_token command run by an operator)."""
    key = new_key()
    with transaction.atomic():
        # The owner's row lock serialises their token changes: the live count below cannot be raced past.
        list(User.objects.select_for_update().filter(pk=owner.pk).values_list("pk", flat=True))
        if ApiToken.objects.filter(user=owner, revoked_at__isnull=True).count() >= MAX_LIVE_TOKENS:
            raise TooManyTokens()
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=owner,
                    name=name,
                    prefix=shown_part(key),
                    digest=digest_of(key),
                    expires_at=expires_at,
                    created_by=created_by,
                )
        except IntegrityError:
            raise NameTaken() from None
    return token, key


def free_name(owner: User, wanted: str) -> str:
    """`wanted`, or `wanted (2)`, `wanted (3)`…: the first name no live token of the owner has (`wanted`
    shortened to make room for the number within MAX_NAME)."""
    taken = set(ApiToken.objects.filter(user=owner, revoked_at__isnull=True).values_list("name", flat=True))
    name, number = wanted, 1
    while name in taken:
        number += 1
        suffix = f" ({number})"
        name = wanted[: MAX_NAME - len(suffix)].rstrip() + suffix
    return name


def revoke_token(*, actor: User, token_id: UUID, acting_token_id: str | None = None) -> ApiToken:
    """Stop the token working, from the next request on, in every process. The row stays, for access
    reviews. Revoking a revoked token changes nothing. A request authenticated by a token
    (`acting_token_id`) may revoke that token only, unless its user is a superuser: a leaked key must not be
    able to cut off the owner's other integrations."""
    with transaction.atomic():
        token = token_for(actor, token_id)
        # (A superuser's token may revoke any: theirs can do everything else already.)
        if acting_token_id is not None and str(token.pk) != acting_token_id and not may_manage_every_token(actor):
            raise OnlyThisToken()
        token = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.revoked_by = actor
            token.save(update_fields=["revoked_at", "revoked_by"])
    return token
