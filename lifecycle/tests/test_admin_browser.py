"""The admin as people use it, in a headless Chromium against the real server (marked `browser`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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
