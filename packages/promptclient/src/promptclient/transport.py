"""The requests the client makes, over the standard library's HTTP: a set of templates registered, its
bundle (conditional), and a batch of executions. Anything but an answer the server meant (no connection, a
timeout, a cut-off answer, a 5xx) is ServerUnavailable, which the client rides out."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

BUNDLE_PATH = "/api/templates/bundle"
BATCH_PATH = "/api/executions/batch"
USER_AGENT = "promptclient/1.0 (python)"


class ServerUnavailable(Exception):
    """The server could not be reached, did not answer in time, or answered 5xx."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, or None (304, or an empty body)


class Transport:
    def __init__(self, base_url: str, token: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Token {token}", "User-Agent": USER_AGENT, "Accept": "application/json"}
        self.timeout = timeout

    def _send(self, request: urllib.request.Request) -> Answer:
        for name, value in self._headers.items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
                status, headers = response.status, dict(response.headers)
        except urllib.error.HTTPError as error:
            raw, status, headers = error.read(), error.code, dict(error.headers)
        except (OSError, ValueError, http.client.HTTPException) as error:  # refused, reset, timeout, DNS, cut off
            raise ServerUnavailable(f"{request.full_url}: {error}") from error
        if status >= 500:
            raise ServerUnavailable(f"{request.full_url} answered {status}")
        try:
            body = json.loads(raw) if raw else None
        except ValueError as error:
            raise ServerUnavailable(f"{request.full_url} answered {status} with a body that is not JSON") from error
        return Answer(status, headers, body)

    def register_set(self, references: Sequence[str], environment: str) -> Answer:
        """POST the set of templates in use: its bundle, with the set's id to poll (`setId`)."""
        body = {"templates": list(references), "environment": environment}
        request = urllib.request.Request(
            f"{self.base_url}{BUNDLE_PATH}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        return self._send(request)

    def set_bundle(self, set_id: str, etag: str | None) -> Answer:
        """GET a registered set's bundle; 304 while `etag` still names it, 404 if the set is unknown."""
        request = urllib.request.Request(f"{self.base_url}{BUNDLE_PATH}/{urllib.parse.quote(set_id)}")
        if etag:
            request.add_header("If-None-Match", etag)
        return self._send(request)

    def post_batch(self, executions: Sequence[dict[str, Any]]) -> Answer:
        """POST a batch of executions (idempotent: each carries its metadata.requestId)."""
        request = urllib.request.Request(
            f"{self.base_url}{BATCH_PATH}",
            data=json.dumps({"executions": list(executions)}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        return self._send(request)
