"""Reads of API tokens: a user's own, or (superusers) anyone's."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from lifecycle.core.exceptions import NotFound, PermissionDenied
from lifecycle.core.roles import User
from lifecycle.core.tokens.models import ApiToken
from lifecycle.core.tokens.permissions import may_manage_every_token, may_manage_tokens_of, require_may_manage_tokens_of


def tokens_of(actor: User, username: str | None = None) -> QuerySet[ApiToken]:
    """The tokens of `username` (default: the actor's own), newest first, revoked ones included."""
    owner = actor
    if username is not None and username != actor.username:
        if not may_manage_every_token(actor):  # before the lookup: who exists is not everyone's to learn
            raise PermissionDenied("Only superusers see other users' tokens.")
        found = User.objects.filter(username=username).first()
        if found is None:
            raise NotFound("No user has this username.")
        owner = found
    require_may_manage_tokens_of(actor, owner.pk)
    return ApiToken.objects.filter(user=owner).select_related("user")


def token_for(actor: User, token_id: UUID) -> ApiToken:
    """A token the actor may see (their own, or any for a superuser); NotFound for any other."""
    token = ApiToken.objects.select_related("user").filter(pk=token_id).first()
    if token is None or not may_manage_tokens_of(actor, token.user_id):
        raise NotFound("No token of yours has this id.")
    return token
