"""API tokens: made with their key shown once, stored as a digest, named, expiring, revoked; over the API,
in the admin, and on the render path."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from lifecycle.core.tokens.keys import digest_of
from lifecycle.core.tokens.models import ApiToken
from lifecycle.core.tokens.services import MAX_LIVE_TOKENS, MAX_NAME, free_name, issue_token
from lifecycle.testing.api import Api
from lifecycle.testing.dashboard import signed_in

pytestmark = pytest.mark.django_db

RENDER_BODY = {"environment": "development", "variables": {"inquiry": "q"}}


def signed(user) -> Api:
    """An API client signed in as `user` (a session: where tokens are made)."""
    api = Api()
    api.client.force_login(user)
    return api


def with_key(key: str) -> Api:
    api = Api()
    api.client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def test_create__own_token__key_shown_once_and_works(reader):
    api = signed(reader)
    response = api.post("/api/tokens", {"name": "checkout-service"})
    assert response.status_code == 201
    made = response.json()
    key = made["key"]
    assert made["name"] == "checkout-service"
    assert made["state"] == "active"
    assert made["username"] == reader.username
    assert key.startswith(made["prefix"])
    assert with_key(key).get("/api/templates").status_code == 200
    # never again: neither in the list nor in the token's own answer
    listed = api.get("/api/tokens").json()
    assert all("key" not in token for token in listed)
    assert "key" not in api.get(f"/api/tokens/{made['id']}").json()


def test_create__stored__as_a_digest_never_the_key(reader):
    key = signed(reader).post("/api/tokens", {"name": "ci"}).json()["key"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM core_apitoken")
        stored = [str(value) for row in cursor.fetchall() for value in row]
    assert not any(key in value for value in stored)
    assert digest_of(key) in stored


def test_create__several_per_user__each_its_own_key(reader):
    api = signed(reader)
    keys = [api.post("/api/tokens", {"name": name}).json()["key"] for name in ("a", "b", "c")]
    assert len(set(keys)) == 3
    assert all(with_key(key).get("/api/templates").status_code == 200 for key in keys)
    names = [token["name"] for token in api.get("/api/tokens").json()]
    assert {"a", "b", "c"} <= set(names)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "tab\there"}, "name"),
        ({"name": 5}, "name"),
        ({"name": "ok", "expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt"),
        ({"name": "ok", "expiresAt": "tomorrow"}, "expiresAt"),
        ({"name": "ok", "expiresAt": "9999-12-31T23:59:59-05:00"}, "expiresAt"),
        ({"name": "ok", "expiresAt": "2045-01-01T00:00:00Z"}, "expiresAt"),  # past the ten-year bound
        ({"name": "a\u202egnp.exe"}, "name"),  # a right-to-left override
        ({"name": "del\x7f"}, "name"),
    ],
)
def test_create__bad_input__400_naming_the_field_and_nothing_made(reader, body, field):
    api = signed(reader)
    before = ApiToken.objects.count()
    response = api.post("/api/tokens", body)
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    assert ApiToken.objects.count() == before


def test_create__name_of_a_live_token__409_and_free_again_once_revoked(reader):
    api = signed(reader)
    first = api.post("/api/tokens", {"name": "etl"}).json()
    response = api.post("/api/tokens", {"name": "etl"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "token_name_taken"
    assert api.post(f"/api/tokens/{first['id']}/revoke").status_code == 200
    assert api.post("/api/tokens", {"name": "etl"}).status_code == 201


def test_create__over_the_live_limit__409(reader):
    for number in range(MAX_LIVE_TOKENS):
        issue_token(owner=reader, name=f"t{number}")
    response = signed(reader).post("/api/tokens", {"name": "one too many"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "too_many_tokens"


def test_expiry__past__401_token_expired_on_every_path(api, reader, create_template):
    template = create_template()
    token, key = issue_token(owner=reader, name="short", expires_at=timezone.now() + timedelta(hours=1))
    caller = with_key(key)
    assert caller.get("/api/templates").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    for response in (
        caller.get("/api/templates"),
        caller.post(f"/api/templates/{template.pk}/render", RENDER_BODY),  # the fast path hands it to DRF
    ):
        assert response.status_code == 401
        assert response.json()["error"] == {"code": "authentication_failed", "message": "Token expired."}


def test_revoke__own_token__refused_from_the_next_request(reader, create_template):
    template = create_template()
    api = signed(reader)
    made = api.post("/api/tokens", {"name": "old"}).json()
    caller = with_key(made["key"])
    assert caller.post(f"/api/templates/{template.pk}/render", RENDER_BODY).status_code == 200
    revoked = api.post(f"/api/tokens/{made['id']}/revoke").json()
    assert revoked["state"] == "revoked"
    assert revoked["revokedAt"] is not None
    for response in (caller.get("/api/templates"), caller.post(f"/api/templates/{template.pk}/render", RENDER_BODY)):
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "Token revoked."
    # revoking again changes nothing
    again = api.post(f"/api/tokens/{made['id']}/revoke").json()
    assert again["revokedAt"] == revoked["revokedAt"]


def test_revoke__another_users_token__404_and_still_working(api, reader, make_user):
    other_token, other_key = issue_token(owner=make_user(), name="theirs")
    api.as_user(reader)
    assert api.post(f"/api/tokens/{other_token.pk}/revoke").status_code == 404
    assert api.get(f"/api/tokens/{other_token.pk}").status_code == 404
    assert with_key(other_key).get("/api/templates").status_code == 200


def test_revoke__superuser__any_users_token(api, make_user):
    owner = make_user()
    token, key = issue_token(owner=owner, name="leaked")
    admin = make_user(superuser=True)
    assert api.as_user(admin).post(f"/api/tokens/{token.pk}/revoke").json()["state"] == "revoked"
    assert with_key(key).get("/api/templates").status_code == 401
    assert ApiToken.objects.get(pk=token.pk).revoked_by == admin


def test_list__another_users__superusers_only(api, reader, make_user):
    other = make_user()
    issue_token(owner=other, name="theirs")
    api.as_user(reader)
    assert api.get(f"/api/tokens?username={other.username}").status_code == 403
    assert api.get("/api/tokens?username=nobody").status_code == 403  # who exists is not told
    api = signed(make_user(superuser=True))
    assert [token["name"] for token in api.get(f"/api/tokens?username={other.username}").json()] == ["theirs"]
    assert api.get("/api/tokens?username=nobody").status_code == 404


def test_list__new_user__empty(api, make_user):
    user = make_user()
    api.as_user(user)
    ApiToken.objects.filter(user=user).delete()  # the test's own key: session-free, so sign in instead
    client = signed_in(user)
    response = client.get("/api/tokens")
    assert (response.status_code, response.json()) == (200, [])


def test_tokens__anonymous__401(api):
    assert api.anonymous().get("/api/tokens").status_code == 401
    assert api.post("/api/tokens", {"name": "x"}).status_code == 401


def test_last_used__first_use_recorded_then_not_rewritten_within_minutes(reader, create_template):
    template = create_template()
    token, key = issue_token(owner=reader, name="render")
    caller = with_key(key)
    assert token.last_used_at is None
    caller.post(f"/api/templates/{template.pk}/render", RENDER_BODY)
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    assert timezone.now() - first < timedelta(seconds=30)
    caller.get("/api/templates")
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first


def test_last_used__render__one_query_once_recorded(reader, create_template, django_assert_num_queries):
    template = create_template()
    _, key = issue_token(owner=reader, name="render")
    caller = with_key(key)
    caller.post(f"/api/templates/{template.pk}/render", RENDER_BODY)  # records the use
    with django_assert_num_queries(1):
        assert caller.post(f"/api/templates/{template.pk}/render", RENDER_BODY).status_code == 200


def test_last_used__stale__rewritten(reader):
    token, key = issue_token(owner=reader, name="old")
    long_ago = timezone.now() - timedelta(days=3)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=long_ago)
    with_key(key).get("/api/templates")
    assert ApiToken.objects.get(pk=token.pk).last_used_at > long_ago + timedelta(days=2)


def test_admin__superuser_adds_a_token__key_shown_once_and_works(make_user):
    owner = make_user()
    client = signed_in(make_user(superuser=True))
    response = client.post(
        "/admin/core/apitoken/add/", {"user": owner.pk, "name": "nightly-job", "expires_at": ""}, follow=True
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(user=owner, name="nightly-job")
    page = response.content.decode()
    key = page.split('<code id="token-key">')[1].split("<")[0].strip()
    assert digest_of(key) == token.digest
    assert with_key(key).get("/api/templates").status_code == 200
    assert key not in client.get(f"/admin/core/apitoken/{token.pk}/change/").content.decode()
    assert key not in str(client.cookies)  # not in a message cookie either
    assert key not in client.get("/admin/core/apitoken/").content.decode()


def test_admin__name_taken__form_error_and_nothing_made(make_user):
    owner = make_user()
    issue_token(owner=owner, name="etl")
    client = signed_in(make_user(superuser=True))
    response = client.post("/admin/core/apitoken/add/", {"user": owner.pk, "name": "etl", "expires_at": ""})
    assert response.status_code == 200
    assert "already has this name" in response.content.decode()
    assert ApiToken.objects.filter(user=owner).count() == 1


def test_admin__revoke_action__tokens_refused(make_user):
    owner = make_user()
    token, key = issue_token(owner=owner, name="etl")
    client = signed_in(make_user(superuser=True))
    client.post("/admin/core/apitoken/", {"action": "revoke_tokens", "_selected_action": [str(token.pk)]})
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert with_key(key).get("/api/templates").status_code == 401


def test_admin__staff_not_superuser__no_tokens_page(make_user):
    staff = make_user("author")
    staff.is_staff = True
    staff.save()
    assert signed_in(staff).get("/admin/core/apitoken/").status_code == 403


def test_create__with_a_token__403_a_token_cannot_make_tokens(api, reader):
    response = api.as_user(reader).post("/api/tokens", {"name": "successor"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "token_cannot_make_tokens"
    assert not ApiToken.objects.filter(name="successor").exists()


def test_revoke__with_a_token__that_token_only(reader):
    first, first_key = issue_token(owner=reader, name="one")
    other, other_key = issue_token(owner=reader, name="two")
    caller = with_key(first_key)
    response = caller.post(f"/api/tokens/{other.pk}/revoke")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "only_this_token")
    assert with_key(other_key).get("/api/templates").status_code == 200
    itself = caller.post(f"/api/tokens/{first.pk}/revoke").json()
    assert itself.get("state") == "revoked", itself  # itself: yes
    assert caller.get("/api/templates").status_code == 401


def test_free_name__long_name_taken__shortened_to_fit(reader):
    long_name = "n" * MAX_NAME
    issue_token(owner=reader, name=long_name)
    name = free_name(reader, long_name)
    assert len(name) <= MAX_NAME
    assert name.endswith(" (2)")
    issue_token(owner=reader, name=name)  # and it is accepted


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's one write lock")
def test_last_used__sqlite_write_lock_held__render_does_not_wait_for_it(reader, create_template):
    template = create_template()
    token, key = issue_token(owner=reader, name="render")  # never used: its first use writes
    holding, release = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        import sqlite3

        other = sqlite3.connect(connection.settings_dict["NAME"], timeout=1)
        other.execute("BEGIN IMMEDIATE")
        holding.set()
        release.wait(10)
        other.rollback()
        other.close()

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    try:
        assert holding.wait(5)
        started = time.monotonic()
        response = with_key(key).post(f"/api/templates/{template.pk}/render", RENDER_BODY)
        elapsed = time.monotonic() - started
    finally:
        release.set()
        holder.join()
    assert response.status_code == 200
    assert elapsed < 2  # not the 20 s SQLite would otherwise wait for the lock
    assert ApiToken.objects.get(pk=token.pk).last_used_at is None  # recorded by a later use instead
