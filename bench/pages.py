"""The dashboard's pages, timed as a signed-in browser loads them: shared by the analytics and A/B parts.

Standard library only, as the drivers. A page's time is one GET on a new local connection, connect to last
byte, with the session cookie: the server's time plus a loopback round trip (tens of microseconds).
"""

from __future__ import annotations

import http.client
import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from http.cookies import SimpleCookie

from bench.common import PYTHON, BenchError, percentile, run_step

LOGIN_PATH = "/dashboard/login/"
HTTP_TIMEOUT_S = 60.0
WARMUP_CALLS = 5  # untimed first: every web worker loads its templates, code paths and connections
GOAL_PAGE_P50_MS = 150.0  # issue 15: each page's server time for a template with a million executions

# Sets a password from the environment, so that it is on no command line.
_SET_PASSWORD = (
    "import os; from django.contrib.auth import get_user_model; "
    "user = get_user_model().objects.get(username=os.environ['BENCH_USERNAME']); "
    "user.set_password(os.environ['BENCH_PASSWORD']); user.save(update_fields=['password'])"
)
_CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def set_password(env: dict[str, str], username: str) -> str:
    """Give an existing user a new random password (to sign in to the dashboard): the password."""
    password = secrets.token_urlsafe(18)
    run_step(
        [PYTHON, "manage.py", "shell", "-c", _SET_PASSWORD],
        {**env, "BENCH_USERNAME": username, "BENCH_PASSWORD": password},
        "manage.py shell (set the bench user's password)",
    )
    return password


def _request(
    port: int, method: str, path: str, headers: dict[str, str], body: str | None = None
) -> tuple[int, dict[str, str], bytes, list[str]]:
    """One request on a new connection: status, headers, body and every Set-Cookie value."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT_S)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        cookies = response.headers.get_all("Set-Cookie") or []
        return response.status, dict(response.headers.items()), raw, cookies
    finally:
        connection.close()


def _cookies(values: list[str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for value in values:
        jar.load(value)
    return {name: morsel.value for name, morsel in jar.items()}


def sign_in(port: int, username: str, password: str) -> str:
    """Sign in through the dashboard's login form as a browser does (CSRF token, session): the Cookie header."""
    status, _, html, set_cookies = _request(port, "GET", LOGIN_PATH, {})
    found = _CSRF_FIELD.search(html)
    if status != 200 or found is None:
        raise BenchError(f"GET {LOGIN_PATH} returned {status} without a CSRF token")
    csrf = _cookies(set_cookies).get("csrftoken")
    if csrf is None:
        raise BenchError(f"GET {LOGIN_PATH} set no csrftoken cookie")
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": found.group(1).decode(), "username": username, "password": password}
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={csrf}"}
    status, answer_headers, body, set_cookies = _request(port, "POST", LOGIN_PATH, headers, form)
    after = _cookies(set_cookies)
    session = after.get("sessionid")
    if status != 302 or session is None or answer_headers.get("Location") != "/dashboard/":
        raise BenchError(f"signing in as {username} returned {status}: {body.decode(errors='replace')[:500]}")
    # Django rotates the CSRF token on sign-in: the browser keeps the new one.
    return f"csrftoken={after.get('csrftoken', csrf)}; sessionid={session}"


@dataclass(frozen=True)
class TimedPage:
    """Latencies of sequential loads of one page."""

    label: str
    path: str
    times_ms: list[float]
    size: int  # bytes of the last answer

    @property
    def p50(self) -> float:
        return percentile(self.times_ms, 0.5)

    @property
    def p95(self) -> float:
        return percentile(self.times_ms, 0.95)

    @property
    def met(self) -> bool:
        return self.p50 < GOAL_PAGE_P50_MS


def _load(port: int, path: str, cookie: str, must_contain: bytes) -> tuple[float, int]:
    started = time.perf_counter()
    status, _, body, _ = _request(port, "GET", path, {"Cookie": cookie})
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:
        raise BenchError(f"GET {path} returned {status}: {body.decode(errors='replace')[:1000]}")
    if must_contain not in body:
        raise BenchError(f"GET {path} answered a page without {must_contain!r}: not the page to time")
    return elapsed, len(body)


def time_page(port: int, label: str, path: str, cookie: str, calls: int, must_contain: bytes) -> TimedPage:
    """WARMUP_CALLS untimed loads, then `calls` sequential timed ones; each must answer 200 with `must_contain`."""
    for _ in range(WARMUP_CALLS):
        _load(port, path, cookie, must_contain)
    times, size = [], 0
    for _ in range(calls):
        elapsed, size = _load(port, path, cookie, must_contain)
        times.append(elapsed)
    return TimedPage(label, path, times, size)


def page_rows(pages: list[TimedPage]) -> list[str]:
    """The table of page figures, one line per page."""
    lines = [f"{'dashboard pages (signed in, sequential)':<46} {'p50 ms':>9} {'p95 ms':>8} {'KB':>6}"]
    for page in pages:
        lines.append(f"{'  ' + page.label:<46} {page.p50:>9.1f} {page.p95:>8.1f} {page.size / 1024:>6.0f}")
    return lines


def page_goals(pages: list[TimedPage]) -> list[tuple[str, bool]]:
    return [(f"dashboard {page.label} p50 < {GOAL_PAGE_P50_MS:.0f} ms ({page.p50:.1f} ms)", page.met) for page in pages]
