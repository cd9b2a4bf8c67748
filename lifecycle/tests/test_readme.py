"""The README's first steps, run as written: every ```sh block marked `first-steps`, in order, pasted into
one bash against the real server (only the address is changed to the test server's); then the dashboard,
as the README's analyst opens it after them, with their numbers."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from lifecycle.testing.browser import chromium, screenshot
from lifecycle.testing.dashboard import Watched, charts_on, figure
from lifecycle.testing.server import ROOT, VENV_BIN, Server

pytestmark = pytest.mark.server

_MARKED_BLOCK = re.compile(r"<!-- first-steps[^>]*-->\s*```sh\n(.*?)```", re.DOTALL)


def first_steps() -> str:
    blocks = _MARKED_BLOCK.findall((ROOT / "README.md").read_text())
    assert len(blocks) >= 3, "the README's first steps are marked <!-- first-steps --> before each ```sh block"
    return "\n".join(blocks)


@pytest.fixture(scope="module")
def ran_first_steps(server: Server) -> subprocess.CompletedProcess[str]:
    """The README's first steps, pointed at the test server, run once in one shell from the repository's
    folder, with `make run`'s environment (the server's database; `.venv/bin/python` is the virtualenv
    running these tests)."""
    assert shutil.which("curl"), "the first steps use curl (.ci/run installs it)"
    script = first_steps().replace("localhost:8000", server.base.removeprefix("http://"))
    env = {**server.env, "PATH": f"{VENV_BIN}:{server.env['PATH']}"}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_readme_first_steps__pasted_into_a_shell__work_as_a_new_user_would_run_them(
    ran_first_steps: subprocess.CompletedProcess[str],
):
    result = ran_first_steps
    # Every command succeeded, and the key lines say what the README says they say
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as started:
        yield started


@pytest.mark.browser
def test_readme_first_steps__then_the_dashboard__shows_their_numbers_on_each_page(
    ran_first_steps: subprocess.CompletedProcess[str], browser: Any, server: Server
):
    assert ran_first_steps.returncode == 0, ran_first_steps.stderr[-2000:]
    # Given the README's analyst, ana, with a password (the README: `manage.py changepassword ana`), signed in
    ana = Watched(browser, server, "ana", "analyst")
    # The overview: the first steps' template with the API's figures for the same day, and what needs
    # attention lists the rule's alert and its automatic rollback
    page = ana.open("/dashboard/?period=24h&q=Customer+Support+Response")
    table = page.locator("#templates")
    numbers = ana.api(
        "/api/performance/overview",
        startDate=table.get_attribute("data-start"),
        endDate=table.get_attribute("data-end"),
        name="Customer Support Response",
    )
    (template,) = numbers["templates"]
    row = f'#templates tr[data-template="{template["templateId"]}"]'
    assert int(figure(page, f"{row} [data-figure=executions]")) == template["executions"] > 1000  # A/B + rule
    assert figure(page, f"{row} [data-figure=successRate]") == f"{template['successRate']} %"
    # (other server tests' rules fire too: the lines of this template are the ones checked)
    rolled_back = page.locator("#automatic-rollbacks li", has_text="Customer Support Response").inner_text()
    assert "production · 1.0.2 → 1.0.1" in rolled_back
    alert = page.locator("#alerts li", has_text="Customer Support Response").inner_text()
    assert "success_rate < 95 % over 5m" in alert  # dora's rule, before it rolled back
    screenshot(page, "readme-dashboard-overview")

    # Its page, from the overview's link: a line per version drawn, and the API's total
    page.click(f"{row} th a")
    page.wait_for_load_state("networkidle")
    summary = page.locator("#summary")
    analytics = ana.api(
        "/api/performance/analytics",
        templateId=template["templateId"],
        startDate=summary.get_attribute("data-start"),
        endDate=summary.get_attribute("data-end"),
        granularity=summary.get_attribute("data-granularity"),
    )
    assert figure(page, "#summary [data-figure=totalExecutions]") == str(analytics["totalExecutions"])
    assert analytics["totalExecutions"] > 1000
    executions_chart = next(chart for chart in charts_on(page) if chart["canvas"] == "chart-executions")
    assert {"1.0.1", "1.0.2", "1.0.3"} <= set(executions_chart["series"])
    assert executions_chart["drawn"]

    # The A/B test, from the template's list: completed, 1.0.3's variant and its executions
    page.click("#abtests a:has-text('Response Quality Test')")
    page.wait_for_load_state("networkidle")
    assert "/dashboard/abtests/" in page.url
    assert figure(page, "h1 + p strong") == "completed"
    shown_executions = [int(cell) for cell in page.locator("#variants [data-figure=executions]").all_inner_texts()]
    assert sum(shown_executions) == 1000

    # Rollbacks of this template: the rule's automatic rollback with its evidence
    page = ana.open(f"/dashboard/rollbacks/?template={template['templateId']}")
    (rollback,) = page.locator("#rollbacks > tbody > tr").all_inner_texts()
    assert "automatic" in rollback
    assert "1.0.2 → 1.0.1" in rollback
    assert "success_rate < 95 % over 5m (observed 0 %, 30 executions)" in rollback
    ana.close()
