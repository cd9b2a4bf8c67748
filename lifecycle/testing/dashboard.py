"""The dashboard in a browser, for the tests: a signed-in page that watches for console errors and requests
off the origin, and readers of the figures and charts it shows."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.test import Client

from lifecycle.testing.server import Server

NO_FIGURE = "\N{EN DASH}"  # what a page shows for a figure without data


def signed_in(user: Any) -> Client:
    """A test client with `user`'s session, as after the login form."""
    client = Client()
    client.force_login(user)
    return client


class Watched:
    """A signed-in browser page that records console errors, page errors and requests off the origin."""

    def __init__(self, browser: Any, server: Server, username: str, *roles: str) -> None:
        self.server = server
        self.problems: list[str] = []
        self.context = browser.new_context(viewport={"width": 1366, "height": 900})
        self.page = self.context.new_page()
        self.page.on("console", lambda message: message.type == "error" and self.problems.append(message.text))
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))
        self.page.on(
            "request",
            lambda request: request.url.startswith(server.base) or self.problems.append(f"off origin: {request.url}"),
        )
        password = server.person(username, *roles)
        self.page.goto(f"{server.base}/dashboard/")
        assert "/dashboard/login/" in self.page.url  # anonymous: sent to sign in
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()
        assert self.page.url == f"{server.base}/dashboard/", self.page.url

    def open(self, path: str) -> Any:
        response = self.page.goto(self.server.base + path)
        assert response.status == 200, (response.status, self.server.log.read_text()[-3000:] if self.server.log else "")
        self.page.wait_for_load_state("networkidle")
        return self.page

    def api(self, path: str, **query: str) -> Any:
        """The API's answer to the same signed-in user (the session authenticates the API too)."""
        response = self.context.request.get(f"{self.server.base}{path}?{urlencode(query)}")
        assert response.status == 200, response.text()
        return response.json()

    def close(self) -> None:
        self.context.close()
        assert self.problems == []


def figure(page: Any, selector: str) -> str:
    return page.locator(selector).inner_text().strip()


def shown(value: Any, unit: str = "") -> str:
    """A figure as the page prints it (the API's number, as Django's template prints a float)."""
    return NO_FIGURE if value is None else f"{value}{' ' + unit if unit else ''}"


def charts_on(page: Any) -> list[dict[str, Any]]:
    """Every Chart.js chart drawn on the page: its canvas, its series' labels and how many points each."""
    return page.evaluate(
        """() => Object.values(Chart.instances).map((chart) => ({
            canvas: chart.canvas.id,
            series: chart.data.datasets.map((set) => set.label),
            points: chart.data.datasets.map((set) => set.data.length),
            drawn: chart.canvas.width > 0 && chart.canvas.toDataURL().length > 3000,
        }))"""
    )
