"""Settings read from the environment refuse values the server cannot work with, at start-up, by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", ["0", "-5", "3601"])
def test_rollback_evaluation_seconds__out_of_bounds__start_up_refused_naming_it(value, tmp_path):
    env = {**os.environ, "ROLLBACK_EVALUATION_SECONDS": value, "LIFECYCLE_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
    assert "ROLLBACK_EVALUATION_SECONDS must be 1 to 3600" in done.stderr


def test_rollback_evaluation_seconds__a_few_seconds__accepted(tmp_path):
    env = {**os.environ, "ROLLBACK_EVALUATION_SECONDS": "2.5", "LIFECYCLE_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def _check(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIFECYCLE_DATA_DIR": str(tmp_path), **variables}
    for name in (
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "DJANGO_DEBUG",
        "DATA_ENCRYPTION_KEYS",
        "TEMPLATE_CONTENT_ENCRYPTION",
        "EXECUTION_STORE_PAYLOADS",
    ):
        if name not in variables:
            env.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_production__check_deploy__no_issue_at_all(tmp_path):
    # Given the production profile with a secret and the server's host name from the environment
    done = _check(
        tmp_path,
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_PRODUCTION="true",
        DJANGO_SECRET_KEY="k" * 20 + "-production-secret-from-the-environment-0123456789",
        DJANGO_ALLOWED_HOSTS="prompts.example.com",
        DATA_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
    )
    # Then Django's deployment checklist finds nothing: secure cookies, HSTS, HTTPS redirect, hosts, secret, and
    # our own: executions' payloads encrypted
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


@pytest.mark.parametrize(
    ("variables", "refusal"),
    [
        ({"DJANGO_ALLOWED_HOSTS": "prompts.example.com"}, "DJANGO_PRODUCTION needs DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "s" * 60}, "DJANGO_PRODUCTION needs DJANGO_ALLOWED_HOSTS"),
        ({"DJANGO_SECRET_KEY": "s" * 60, "DJANGO_ALLOWED_HOSTS": "*"}, "DJANGO_PRODUCTION needs DJANGO_ALLOWED_HOSTS"),
    ],
)
def test_production__secret_or_hosts_missing__start_up_refused_naming_them(tmp_path, variables, refusal):
    done = _check(tmp_path, DJANGO_PRODUCTION="true", **variables)
    assert done.returncode != 0
    assert refusal in done.stderr


def test_embedded_default__check_deploy__says_what_production_would_change(tmp_path):
    # The first-look default (no secret in the environment, no HTTPS) is not production, and says so
    done = _check(tmp_path, "--deploy")
    assert "security.W004" in done.stdout + done.stderr  # no HSTS


PRODUCTION = {
    "DJANGO_PRODUCTION": "true",
    "DJANGO_SECRET_KEY": "k" * 20 + "-production-secret-from-the-environment-0123456789",
    "DJANGO_ALLOWED_HOSTS": "prompts.example.com",
}


def test_production__no_encryption_keys__start_up_refused_naming_them(tmp_path):
    done = _check(tmp_path, **PRODUCTION)
    assert done.returncode != 0
    assert "DJANGO_PRODUCTION needs DATA_ENCRYPTION_KEYS" in done.stderr


def test_production__no_keys_but_no_payloads_kept__accepted(tmp_path):
    # Nothing personal is kept, so nothing needs a key
    done = _check(tmp_path, "--deploy", "--fail-level", "WARNING", EXECUTION_STORE_PAYLOADS="false", **PRODUCTION)
    assert done.returncode == 0, done.stdout + done.stderr


def test_encryption_keys__one_malformed__start_up_refused_naming_its_position_not_its_value(tmp_path):
    good = Fernet.generate_key().decode()
    done = _check(tmp_path, DATA_ENCRYPTION_KEYS=f"{good}, not-a-key-at-all")
    assert done.returncode != 0
    assert "DATA_ENCRYPTION_KEYS: key 2 of 2 is not a Fernet key" in done.stderr
    assert "not-a-key-at-all" not in done.stderr
    assert good not in done.stderr


def test_encryption_keys__several_with_spaces__accepted(tmp_path):
    keys = ", ".join(Fernet.generate_key().decode() for _ in range(3))
    done = _check(tmp_path, DATA_ENCRYPTION_KEYS=keys, TEMPLATE_CONTENT_ENCRYPTION="true")
    assert done.returncode == 0, done.stderr


def test_template_content_encryption__without_keys__start_up_refused(tmp_path):
    done = _check(tmp_path, TEMPLATE_CONTENT_ENCRYPTION="true")
    assert done.returncode != 0
    assert "TEMPLATE_CONTENT_ENCRYPTION needs DATA_ENCRYPTION_KEYS" in done.stderr


def test_embedded_default__check_deploy__says_payloads_are_unencrypted(tmp_path):
    done = _check(tmp_path, "--deploy")
    assert "core.W001" in done.stdout + done.stderr


def test_database_url__set_but_empty__the_embedded_default(tmp_path):
    # `DATABASE_URL= make run`, or a blank line in an env file, is as if it were not set
    env = {**os.environ, "DATABASE_URL": "", "LIFECYCLE_DATA_DIR": str(tmp_path)}
    code = "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])"
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "django.db.backends.sqlite3"
