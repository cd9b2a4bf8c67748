"""API tokens: named, optionally expiring, revocable; stored as a digest of the key, never the key."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from lifecycle.core.ids import uuid7


class ApiToken(models.Model):
    """One integration's credential for `Authorization: Token <key>` (several per user: one per integration).

    The key is shown once, when made; the database keeps its SHA-256 (`digest`), which is what a request's key
    is looked up by, as GitHub and Stripe do: a copy of the database gives no one a working key.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # The key's first characters, to tell tokens apart in lists (and in a leaked key's report); not secret.
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    # Kept to within LAST_USED_RESOLUTION (authentication.py): a write per request would cost render its speed.
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at", "-id"]
        constraints = [
            # A name says which integration holds the key: two live tokens of one user never share it.
            models.UniqueConstraint(
                fields=["user", "name"], condition=models.Q(revoked_at__isnull=True), name="api_token_live_name"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def state_now(self) -> str:
        """active, expired or revoked."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"
