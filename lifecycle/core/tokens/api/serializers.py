"""The API tokens' shapes (camelCase, as API.md writes them)."""

from __future__ import annotations

from rest_framework import serializers

from lifecycle.core.api.inputs import StrictCharField
from lifecycle.core.tokens.services import MAX_NAME

STATES = ["active", "expired", "revoked"]


class TokenInput(serializers.Serializer):
    name = StrictCharField(max_length=MAX_NAME, help_text="what holds the key, e.g. checkout-service")
    expiresAt = serializers.DateTimeField(
        required=False, allow_null=True, help_text="the token stops working then (default: never)"
    )


class TokenListQuery(serializers.Serializer):
    username = StrictCharField(
        required=False, max_length=150, help_text="whose tokens (default: your own; another user's: superusers)"
    )


class TokenOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="the key's first characters, to tell tokens apart; not secret")
    username = serializers.CharField(source="user.username")
    state = serializers.ChoiceField(choices=STATES, source="state_now")
    createdAt = serializers.DateTimeField(source="created_at")
    expiresAt = serializers.DateTimeField(source="expires_at", allow_null=True)
    lastUsedAt = serializers.DateTimeField(
        source="last_used_at", allow_null=True, help_text="to within five minutes; null: never used"
    )
    revokedAt = serializers.DateTimeField(source="revoked_at", allow_null=True)


class TokenWithKeyOutput(TokenOutput):
    key = serializers.CharField(help_text="send it as `Authorization: Token <key>`; shown this once only")
