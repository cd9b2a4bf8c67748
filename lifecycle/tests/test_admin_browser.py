"""The admin as people use it, in a headless Chromium against the real server (marked `browser`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from lifecycle.testing.browser import chromium, screenshot
from lifecycle.testing.server import Server

pytestmark = [pytest.mark.server, pytest.mark.browser]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module-scoped, not session-scoped: Playwright's event loop must not outlive these tests, or Django
    # would refuse database work in later ones (SynchronousOnlyOperation).
    with chromium() as started:
        yield started


def sign_in(browser: Any, server: Server, username: str, password: str) -> Any:
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(f"{server.base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    return page


def test_admin__signed_in__the_products_own_name_and_view_site_leads_to_the_docs(browser, server):
    password = server.person("browser-reviewer", "technical")
    page = sign_in(browser, server, "browser-reviewer", password)
    assert page.title().endswith("Prompt lifecycle")
    assert page.locator("#site-name").inner_text() == "Prompt lifecycle"
    screenshot(page, "admin-index-reviewer")
    page.click("text=View site")
    page.wait_for_load_state()
    assert page.url.endswith("/api/docs/")
    page.close()


def sign_in_as(browser: Any, server: Server, username: str, *roles: str) -> Any:
    """A new browser context (its own cookies) signed in to the admin as a new user with these roles."""
    password = server.person(username, *roles)
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(f"{server.base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    assert "/admin/login/" not in page.url, f"{username} could not sign in"
    return page


def open_from_queue(page: Any, server: Server, template_name: str) -> str:
    """The reviewer opens, from their queue, the request of the template; its id."""
    page.goto(f"{server.base}/admin/approvals/reviewqueue/")
    link = page.locator("a[id^=review-]", has_text=template_name).first
    request_id = link.get_attribute("id").removeprefix("review-")
    link.click()
    page.wait_for_load_state()
    return request_id


def decide(page: Any, decision: str, comment: str) -> str:
    """Approve or reject (with its confirmation) the stage the page offers, with a comment; the message."""
    page.fill("#id_decision_comment", comment)
    page.click(f"#decision-{decision}")
    page.wait_for_load_state()
    if decision == "reject":
        page.click("#confirm")
        page.wait_for_load_state()
    return page.locator("ul.messagelist li").first.inner_text()


def test_admin__a_version_from_author_to_production__through_four_reviews_a_rejection_and_a_deploy(browser, server):
    template_name = "Browser walk"
    # An author adds a template in the admin, then its next version from the template's page
    alice = sign_in_as(browser, server, "walk-alice", "author")
    alice.goto(f"{server.base}/admin/templates_app/prompttemplate/add/")
    alice.fill("#id_name", template_name)
    alice.select_option("#id_category", "generation")
    alice.fill("#id_content", "Answer the customer: {{inquiry}}")
    alice.fill("#id_variables", '[{"name": "inquiry", "type": "string", "required": true}]')
    alice.fill("#id_model_config", '{"model": "claude-sonnet", "temperature": 0.2}')
    alice.fill("#id_provider", "claude")
    alice.click("input[name=_save]")
    alice.wait_for_load_state()
    alice.click("#add-next-version")
    alice.wait_for_load_state()
    assert alice.input_value("#id_content") == "Answer the customer: {{inquiry}}"  # starts from the latest
    alice.fill("#id_content", "Answer the customer kindly: {{inquiry}}")
    alice.fill("#id_changelog", "kinder")
    alice.click("input[name=_save]")
    alice.wait_for_load_state()
    # ...and submits it for production from the version's page
    alice.click("#submit-production")
    alice.wait_for_load_state()
    assert "production" in alice.locator("ul.messagelist li").first.inner_text()

    # Four reviewers, each from their own queue; security rejects with a comment
    reviewers = {
        role: sign_in_as(browser, server, f"walk-{role}", role) for role in ("technical", "qa", "security", "business")
    }
    for role in ("technical", "qa"):
        open_from_queue(reviewers[role], server, template_name)
        assert "approved" in decide(reviewers[role], "approve", f"{role}: fine")
    open_from_queue(reviewers["security"], server, template_name)
    screenshot(reviewers["security"], "review-page")
    assert "rejected" in decide(reviewers["security"], "reject", "Mention the privacy policy.")

    # The author reads why, and resubmits
    alice.reload()
    alice.click("#request-production")
    alice.wait_for_load_state()
    assert "Mention the privacy policy." in alice.locator("#next-step").inner_text()
    alice.click("#resubmit")
    alice.wait_for_load_state()
    assert alice.locator("#next-step").get_attribute("data-state") == "pending"

    # Every stage again, in order
    for role in ("technical", "qa", "security", "business"):
        open_from_queue(reviewers[role], server, template_name)
        decide(reviewers[role], "approve", f"{role}: ok")
    assert reviewers["business"].locator("#next-step").get_attribute("data-state") == "approved"

    # A deployer deploys it from the ready queue, after a confirmation
    dora = sign_in_as(browser, server, "walk-dora", "deployer")
    dora.goto(f"{server.base}/admin/releases/readytodeploy/")
    screenshot(dora, "ready-to-deploy")
    deploy = dora.locator("a[id^=deploy-]").first
    deploy.click()
    dora.wait_for_load_state()
    dora.click("#confirm")
    dora.wait_for_load_state()
    assert "deployed to production" in dora.locator("ul.messagelist li").first.inner_text()

    # Production renders the new version
    status, templates, _ = server.call(
        "GET", f"/api/templates?search={quote(template_name)}", token=server.tokens["reader"]
    )
    template_id = templates["results"][0]["id"]
    status, rendered, _ = server.call(
        "POST",
        f"/api/templates/{template_id}/render",
        {"environment": "production", "variables": {"inquiry": "Where is my order?"}},
        token=server.tokens["reader"],
    )
    assert (status, rendered["version"]) == (200, "1.0.1"), rendered
    assert rendered["rendered"] == "Answer the customer kindly: Where is my order?"
    for page in (alice, dora, *reviewers.values()):
        page.context.close()


def test_admin__a_model_settings_only_change__the_reviewer_sees_it(browser, server):
    # Given a template whose 1.0.0 serves staging (reviewed and deployed over the API)...
    author, tokens = server.tokens["author"], server.tokens
    status, template, _ = server.call(
        "POST",
        "/api/templates",
        {
            "name": "Temperature walk",
            "content": "Hi {{q}}",
            "variables": [{"name": "q"}],
            "modelConfig": {"model": "m", "temperature": 0.2},
        },
        token=author,
    )
    assert status == 201, template
    first = template["latestVersion"]["id"]
    assert (
        server.call("POST", "/api/approval/submit", {"versionId": first, "environment": "staging"}, token=author)[0]
        == 201
    )
    for index, role in enumerate(("technical", "qa")):
        decision = {"versionId": first, "environment": "staging", "data": {"stageIndex": index}}
        assert server.call("POST", "/api/approval/approve", decision, token=tokens[role])[0] == 200
    deployed = server.call("PUT", f"/api/versions/{first}/deploy", {"environment": "staging"}, token=tokens["deployer"])
    assert deployed[0] == 200, deployed
    # ...and 1.1.0, which only raises the temperature, submitted for staging
    status, newer, _ = server.call(
        "POST",
        "/api/versions/create",
        {
            "templateId": template["id"],
            "data": {"content": "Hi {{q}}", "modelConfig": {"model": "m", "temperature": 0.7}},
        },
        token=author,
    )
    assert (status, newer["version"]) == (201, "1.1.0"), newer
    assert (
        server.call("POST", "/api/approval/submit", {"versionId": newer["id"], "environment": "staging"}, token=author)[
            0
        ]
        == 201
    )
    # When a technical reviewer opens it from their queue
    reviewer = sign_in_as(browser, server, "temperature-reviewer", "technical")
    open_from_queue(reviewer, server, "Temperature walk")
    # Then the page shows the changed setting, against what staging serves, with the version step it needs
    diff = reviewer.locator(".version-diff").inner_text()
    assert "against 1.0.0, active in staging" in diff
    assert "model settings changed" in diff
    assert "temperature\t0.2\t0.7" in diff
    screenshot(reviewer, "review-page-model-settings")
    reviewer.context.close()


def test_admin__a_part_updated__the_prompt_refreshed_from_its_page_with_the_part_named_in_the_diff(browser, server):
    # Given a shared part in production and a prompt that includes it (made over the API by an author who
    # also signs in to the admin)...
    password = server.person("parts-alice", "author")
    token = server.manage("create_api_token", "parts-alice").strip().splitlines()[-1]
    tokens = server.tokens

    def to_production(version_id: str) -> None:
        submitted = {"versionId": version_id, "environment": "production"}
        assert server.call("POST", "/api/approval/submit", submitted, token=token)[0] == 201
        for index, role in enumerate(("technical", "qa", "security", "business")):
            decision = {**submitted, "data": {"stageIndex": index}}
            assert server.call("POST", "/api/approval/approve", decision, token=tokens[role])[0] == 200
        deployed = {"environment": "production"}
        assert server.call("PUT", f"/api/versions/{version_id}/deploy", deployed, token=tokens["deployer"])[0] == 200

    status, part, _ = server.call(
        "POST", "/api/templates", {"name": "browser-style", "content": "Be kind."}, token=token
    )
    assert status == 201, part
    to_production(part["latestVersion"]["id"])
    prompt_body = {"name": "Browser prompt", "content": "{{> browser-style}} {{q}}", "variables": [{"name": "q"}]}
    status, prompt, _ = server.call("POST", "/api/templates", prompt_body, token=token)
    assert (status, prompt["content"]) == (201, "Be kind. {{q}}"), prompt
    # ...and a new version of the part in production
    newer = {"templateId": part["id"], "data": {"content": "Be kind and brief."}}
    status, part_v2, _ = server.call("POST", "/api/versions/create", newer, token=token)
    to_production(part_v2["id"])

    # The prompt's page shows the update; "Refresh parts" makes the next version, whose page names the part
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    page.goto(f"{server.base}/admin/login/")
    page.fill("#id_username", "parts-alice")
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{server.base}/admin/templates_app/prompttemplate/{prompt['id']}/change/")
    assert "1.0.1" in page.locator("#updates-available").inner_text()
    screenshot(page, "template-parts-updates")
    page.click("#refresh-parts")
    page.wait_for_load_state()
    assert "/admin/templates_app/templateversion/" in page.url
    assert "browser-style 1.0.0 → 1.0.1" in page.locator("ul.messagelist li").first.inner_text()
    assert page.locator("#parts-changed").inner_text().split() == ["browser-style", "1.0.0", "→", "1.0.1"]
    assert "Be kind and brief. {{q}}" in page.locator("pre.prompt-content").first.inner_text()
    screenshot(page, "refreshed-parts-version")
    # Like any new version, it serves development at once, and goes further only through its own review
    body = {"environment": "development", "variables": {"q": "Hi"}}
    status, rendered, _ = server.call("POST", f"/api/templates/{prompt['id']}/render", body, token=tokens["reader"])
    assert (status, rendered["version"], rendered["rendered"]) == (200, "1.0.1", "Be kind and brief. Hi"), rendered
    page.context.close()
