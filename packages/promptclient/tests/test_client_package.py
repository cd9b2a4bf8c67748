"""`pip install ./packages/promptclient` as a user runs it, in a fresh virtualenv: it installs with its
shared rendering package and without Django, and the installed client renders what the real server does."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from lifecycle.testing.server import ROOT, Server

pytestmark = [pytest.mark.package, pytest.mark.server]

RENDER = """
import json, sys
from promptclient import PromptClient
with PromptClient(sys.argv[1], sys.argv[2]) as client:
    print(json.dumps(client.render(sys.argv[3], {"q": "from a fresh virtualenv"})))
"""


def test_pip_install__a_fresh_virtualenv__the_client_without_django_renders_as_the_server(
    tmp_path: Path, server: Server
):
    # Given a template in production
    body = {"name": f"Packaged {uuid.uuid4().hex[:8]}", "content": "Say {{q}}", "variables": [{"name": "q"}]}
    status, template, _ = server.call("POST", "/api/templates", body, token=server.tokens["author"])
    assert status == 201, template
    server.release(template["latestVersion"]["id"])
    # When the client is installed as its README says, in a virtualenv of its own
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "./packages/promptclient"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    # Then it brings promptrender and no Django, and renders from there what the server renders
    listed = subprocess.run([python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True)
    names = {package["name"].lower() for package in json.loads(listed.stdout)}
    assert {"promptclient", "promptrender"} <= names
    assert "django" not in names
    rendered = subprocess.run(
        [python, "-c", RENDER, server.base, server.tokens["reader"], template["name"]],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,  # not the repository: the installed packages, not the sources
    )
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    expected = server.call(
        "POST",
        f"/api/templates/{template['id']}/render",
        {"environment": "production", "variables": {"q": "from a fresh virtualenv"}},
        token=server.tokens["reader"],
    )[1]
    assert json.loads(rendered.stdout) == expected
