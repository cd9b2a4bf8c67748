"""The README's first steps, run as written: every ```sh block marked `first-steps`, in order, pasted into
one bash against the real server (only the address is changed to the test server's)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from lifecycle.testing.server import ROOT, VENV_BIN, Server

pytestmark = pytest.mark.server

_MARKED_BLOCK = re.compile(r"<!-- first-steps[^>]*-->\s*```sh\n(.*?)```", re.DOTALL)


def first_steps() -> str:
    blocks = _MARKED_BLOCK.findall((ROOT / "README.md").read_text())
    assert len(blocks) >= 3, "the README's first steps are marked <!-- first-steps --> before each ```sh block"
    return "\n".join(blocks)


def test_readme_first_steps__pasted_into_a_shell__work_as_a_new_user_would_run_them(server: Server):
    assert shutil.which("curl"), "the first steps use curl (.ci/run installs it)"
    # Given the README's first steps, pointed at the test server
    script = first_steps().replace("localhost:8000", server.base.removeprefix("http://"))
    # When they run, in one shell, from the repository's folder, with `make run`'s environment (the
    # server's database; `.venv/bin/python` is the virtualenv running these tests)
    env = {**server.env, "PATH": f"{VENV_BIN}:{server.env['PATH']}"}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    # Then every command succeeded, and the key lines say what the README says they say
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}"
    printed = result.stdout.splitlines()
    assert printed[0] == "Please respond to the customer inquiry: How do I reset my password?"
    assert printed[1:7] == ["pending", "pending", "pending", "pending", "approved", "active"]
    assert printed[7] == "1.0.1"  # production serves the new version
    assert printed[8:11] == ["1", "1", "100.0"]  # one execution reported, counted, all successful
    # 1.0.2 reaches production, may be rolled back, fails: the rule rolls back by itself
    assert printed[11:17] == ["pending", "pending", "pending", "pending", "approved", "active"]
    assert printed[17] == "true"  # valid
    assert printed[18].startswith("success_rate < 95 % over 5m")
    assert printed[19:23] == ["30", "production serves 1.0.1 again", "automatic", "rolled_back"]
    # 1.0.3 against 1.0.1 in an A/B test: 1,000 subjects rendered and reported, a winner shipped, promoted
    assert printed[23:28] == ["pending", "pending", "pending", "pending", "approved"]
    assert printed[28:31] == ["running", "1000", "ship"]
    assert printed[31:33] == ["completed", "1.0.3"]
    # A prompt built from two shared parts: each part released, then the prompt, serving the flattened text
    released = ["pending", "pending", "pending", "pending", "approved", "active"]
    assert printed[33:51] == released * 3
    safety = "Never share internal notes or data about other customers."
    assert printed[51:54] == [
        safety,
        "Answer in French, in short and friendly sentences.",
        "Customer: Where is my order?",
    ]
    # A new house style is released: an update for the prompt, which still serves 1.0.0 in production
    assert printed[54:60] == released
    assert printed[60:63] == ["1.0.1", "1.0.0", "Order Status Reply"]
    # The refreshed prompt: its diff names the part that moved and the flattened line that changes
    assert printed[63:66] == [
        "1.0.1",
        "-Answer in {{language}}, in short and friendly sentences.",
        "+Answer in {{language}}, in short sentences, and end with the next step.",
    ]
    # Released through its own review, production serves it
    assert printed[66:72] == released
    new_style = "Answer in English, in short sentences, and end with the next step."
    assert printed[72:] == [safety, new_style, "Customer: Where is my order?"]
