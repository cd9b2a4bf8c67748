"""Roles, tokens, the health check, the schema and docs, and settings' safe defaults."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from lifecycle.core.tokens.keys import digest_of
from lifecycle.core.tokens.models import ApiToken

ROLES = {"author", "technical", "qa", "security", "business", "deployer", "analyst"}
ROOT = Path(__file__).resolve().parents[3]


def run_command(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().splitlines()


@pytest.mark.django_db
def test_roles__seeded_by_migration():
    assert set(Group.objects.values_list("name", flat=True)) >= ROLES


@pytest.mark.django_db
def test_create_api_token__new_user__created_with_groups_and_token_alone_on_last_line():
    lines = run_command("alice", "--groups", "author,deployer")
    user = get_user_model().objects.get(username="alice")
    token = ApiToken.objects.get(user=user)
    assert token.digest == digest_of(lines[-1])
    assert re.fullmatch(r"plt_[A-Za-z0-9_-]{40}", lines[-1])
    assert (token.name, token.prefix, token.expires_at) == ("default", lines[-1][:12], None)
    assert set(user.groups.values_list("name", flat=True)) == {"author", "deployer"}
    assert not user.has_usable_password()
    assert not user.is_superuser


@pytest.mark.django_db
def test_create_api_token__run_again__new_token_beside_the_first_and_groups_added(api):
    first = run_command("bob", "--groups", "author")[-1]
    second = run_command("bob", "--groups", "qa")[-1]
    assert first != second
    user = get_user_model().objects.get(username="bob")
    assert set(user.groups.values_list("name", flat=True)) == {"author", "qa"}
    assert get_user_model().objects.filter(username="bob").count() == 1
    assert sorted(ApiToken.objects.filter(user=user).values_list("name", flat=True)) == ["default", "default (2)"]
    for key in (first, second):
        api.client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        assert api.get("/api/templates").status_code == 200


@pytest.mark.django_db
def test_create_api_token__name_and_expiry__token_has_them():
    key = run_command("carol", "--name", "checkout-service", "--expires-in-days", "30")[-1]
    token = ApiToken.objects.get(digest=digest_of(key))
    assert token.name == "checkout-service"
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= timedelta(days=30)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "problem"),
    [(["--name", " "], "--name"), (["--name", "x" * 101], "--name"), (["--expires-in-days", "0"], "--expires-in-days")],
)
def test_create_api_token__bad_name_or_expiry__error_and_nothing_made(args, problem):
    with pytest.raises(CommandError, match=problem):
        run_command("dave", *args)
    assert not get_user_model().objects.filter(username="dave").exists()


@pytest.mark.django_db
def test_create_api_token__superuser_flag__superuser_and_staff():
    run_command("root", "--superuser")
    user = get_user_model().objects.get(username="root")
    assert user.is_superuser
    assert user.is_staff


@pytest.mark.django_db
def test_create_api_token__unknown_group__error_and_no_user():
    with pytest.raises(CommandError, match="Unknown group"):
        run_command("carol", "--groups", "author,wizard")
    assert not get_user_model().objects.filter(username="carol").exists()


@pytest.mark.django_db
def test_token__works_against_the_api(api):
    key = run_command("dave")[-1]
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/templates").status_code == 200


@pytest.mark.django_db
def test_health__database_ok_and_worker_state():
    from lifecycle.core.tasks import record_heartbeat

    body = Client().get("/api/health").json()
    assert body["status"] == "ok"
    assert body["worker"] == {"lastHeartbeatAt": None, "alive": False, "lagSeconds": None}
    record_heartbeat.delay()  # eager in tests
    assert Client().get("/api/health").json()["worker"]["alive"] is True


@pytest.mark.django_db
def test_schema__generated_and_valid():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


@pytest.mark.django_db
def test_schema__documents_every_endpoint_of_the_templates_table(api, reader):
    schema = api.as_user(reader).get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path, method in [
        ("/api/templates", "post"),
        ("/api/templates", "get"),
        ("/api/templates/{template_id}", "get"),
        ("/api/templates/{template_id}/history", "get"),
        ("/api/templates/{template_id}/render", "post"),
        ("/api/templates/{template_id}/resolve", "get"),
        ("/api/versions/create", "post"),
        ("/api/versions/{version_id}", "get"),
        ("/api/versions/{version_id}/diff", "get"),
        ("/api/versions/{version_id}/deploy", "put"),
    ]:
        assert method in paths[path], (path, method)


@pytest.mark.django_db
def test_docs__page_loads_its_assets_from_this_server_only(api, reader):
    page = api.as_user(reader).get("/api/docs/").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any("swagger-ui" in source for source in sources)
    assert all(not source.startswith(("http://", "https://", "//")) for source in sources), sources


def test_settings__debug_off_by_default_and_secret_key_not_committed():
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.DEBUG)"],
        env={
            "DJANGO_SETTINGS_MODULE": "lifecycle.settings",
            "PATH": "/usr/bin:/bin",
            "LIFECYCLE_DATA_DIR": str(Path(settings.DATA_DIR) / "settings-test"),
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "False"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not any(name.endswith(("secret_key", ".sqlite3")) for name in tracked)
    assert settings.SECRET_KEY not in "".join(
        (ROOT / name).read_text(errors="ignore") for name in tracked if (ROOT / name).is_file()
    )
