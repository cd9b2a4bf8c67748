"""Hostile or careless clients at the real server, with the production topology's web worker (gunicorn's
gthread, docker-compose.yml's WEB_WORKER_CLASS): connections opened and left silent, or a request left
unfinished, must not keep the others waiting. (`make run`'s default sync worker, on the loopback, is for
behind a buffering proxy: there, a handful of silent connections stop every worker; gunicorn.conf.py.)"""

from __future__ import annotations

import socket
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from lifecycle.testing.server import WORKERS, running_server

pytestmark = pytest.mark.server


def test_hostile_clients__more_idle_connections_than_workers__render_still_answers_at_once(tmp_path: Path):
    with running_server(tmp_path, env={"WEB_WORKER_CLASS": "gthread"}) as server, ExitStack() as idle:
        host, port = server.base.removeprefix("http://").split(":")
        token = server.tokens["author"]
        body = {
            "name": "Held up?",
            "content": "Answer {{q}}",
            "variables": [{"name": "q", "type": "string", "required": True}],
        }
        status, template, _ = server.call("POST", "/api/templates", body, token=token)
        assert status == 201, template
        # Given twice as many connections as web worker processes, opened and then left silent (one of them
        # mid-request: its request line sent, its headers never finished)
        for index in range(2 * WORKERS):
            connection = idle.enter_context(socket.create_connection((host, int(port))))
            if index == 0:
                connection.sendall(b"POST /api/templates/x/render HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.5)  # they have reached the server
        # When an integration renders, then its answer comes as it would without them
        render = {"environment": "development", "variables": {"q": "x"}}
        started = time.monotonic()
        for _ in range(10):
            status, served, _ = server.call("POST", f"/api/templates/{template['id']}/render", render, token=token)
            assert status == 200, served
        assert time.monotonic() - started < 5, "renders waited behind idle connections"
