"""Existing plain DRF tokens become digest-stored tokens that keep working (core 0006)."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from lifecycle.core.tokens.models import ApiToken
from lifecycle.testing.api import Api

BEFORE = [("core", "0005_webhook_subscriptions")]
AFTER = [("core", "0006_api_tokens")]
PLAIN_KEY = "0123456789abcdef0123456789abcdef01234567"  # DRF's form: 40 hex digits


def _migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_migration__plain_drf_token__moved_to_a_digest_and_still_works(make_user):
    user = make_user()
    timestamp = "timestamp with time zone" if connection.vendor == "postgresql" else "datetime"
    _migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            # The table DRF's authtoken app made, as it was when that app was installed.
            cursor.execute(
                f'CREATE TABLE authtoken_token ("key" varchar(40) PRIMARY KEY, "created" {timestamp} NOT NULL, '
                '"user_id" integer NOT NULL UNIQUE)'
            )
            cursor.execute(
                "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
                [PLAIN_KEY, timezone.now(), user.pk],
            )
        _migrate(AFTER)
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM authtoken_token")
            assert cursor.fetchone()[0] == 0  # no plain key left behind
    finally:
        _migrate(AFTER)
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS authtoken_token")
    token = ApiToken.objects.get(user=user)
    assert token.digest == hashlib.sha256(PLAIN_KEY.encode()).hexdigest()
    assert (token.name, token.prefix) == ("migrated", PLAIN_KEY[:8])
    caller = Api()
    caller.client.credentials(HTTP_AUTHORIZATION=f"Token {PLAIN_KEY}")
    assert caller.get("/api/templates").status_code == 200
