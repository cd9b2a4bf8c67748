"""Settings read from the environment refuse values the server cannot work with, at start-up, by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    for name in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DJANGO_DEBUG"):
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
    )
    # Then Django's deployment checklist finds nothing: secure cookies, HSTS, HTTPS redirect, hosts, secret
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
