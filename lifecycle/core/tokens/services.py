"""Making and revoking API tokens. The key is returned once, to the caller that made it; only its digest
is stored (lifecycle.core.tokens.keys)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from lifecycle.core.exceptions import Conflict, InvalidInput
from lifecycle.core.roles import User
from lifecycle.core.tokens.keys import digest_of, new_key, shown_part
from lifecycle.core.tokens.models import ApiToken
from lifecycle.core.tokens.permissions import require_may_manage_tokens_of
from lifecycle.core.tokens.selectors import token_for

MAX_NAME = 100
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
    if not name or len(name) > MAX_NAME or any(ord(character) < 32 for character in name):
        raise InvalidInput.at("name", f"must be text of 1 to {MAX_NAME} characters, without control characters")
    return name


def checked_expiry(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if timezone.is_naive(value):
        raise InvalidInput.at("expiresAt", "must name its time zone (e.g. 2027-01-31T00:00:00Z)")
    if value <= timezone.now():
        raise InvalidInput.at("expiresAt", "must be in the future")
    return value


def create_token(
    *, actor: User, name: str, expires_at: datetime | None = None, owner: User | None = None
) -> tuple[ApiToken, str]:
    """A new token of `owner` (default: the actor; another user's: superusers only) and its key, which
    this answer alone holds."""
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
    """`wanted`, or `wanted (2)`, `wanted (3)`…: the first name no live token of the owner has."""
    taken = set(ApiToken.objects.filter(user=owner, revoked_at__isnull=True).values_list("name", flat=True))
    name, number = wanted, 1
    while name in taken:
        number += 1
        name = f"{wanted} ({number})"
    return name


def revoke_token(*, actor: User, token_id: UUID) -> ApiToken:
    """Stop the token working, from the next request on, in every process. The row stays, for access
    reviews. Revoking a revoked token changes nothing."""
    with transaction.atomic():
        token = token_for(actor, token_id)
        token = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.revoked_by = actor
            token.save(update_fields=["revoked_at", "revoked_by"])
    return token
