"""Careless or hostile clients at the real server with WEB_WORKER_CLASS=gthread, the worker for a server
that faces clients without a buffering proxy: connections opened and left silent, more of them than web
worker processes, must not stop the API. (The default sync worker waits on each connection it takes: such
connections hold every process until gunicorn's 30 s timeout, which is why it belongs behind a proxy that
buffers requests; gunicorn.conf.py, README "Production and scaling out".)"""

from __future__ import annotations

import socket
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from lifecycle.testing.server import WORKERS, running_server

pytestmark = pytest.mark.server


def test_hostile_clients__silent_connections_outnumber_processes__renders_answered(tmp_path: Path):
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
        # When an integration renders, then it is answered: a thread held by a silent connection is freed
        # within gunicorn's 5 s (a sync worker never frees it: its renders time out after server.call's 10 s)
        render = {"environment": "development", "variables": {"q": "x"}}
        started = time.monotonic()
        for _ in range(10):
            status, served, _ = server.call("POST", f"/api/templates/{template['id']}/render", render, token=token)
            assert status == 200, served
        assert time.monotonic() - started < 20, "renders waited behind silent connections"
