"""What gunicorn refuses before the application sees a request is answered in the API's JSON error shape,
with gunicorn's status; anything else stays gunicorn's. test_server.py sends such requests to the real
server; here the worker's error hook writes to one end of a socket pair."""

from __future__ import annotations

import json
import runpy
import socket
from pathlib import Path

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger
from gunicorn.http.errors import (
    ChunkMissingTerminator,
    InvalidChunkSize,
    InvalidHeader,
    InvalidRequestLine,
    InvalidResponseHeader,
    LimitRequestHeaders,
    LimitRequestLine,
    UnsupportedTransferCoding,
)

from lifecycle.core.gunicorn_worker import JSONErrorSyncWorker, JSONErrorThreadWorker
from lifecycle.core.observability import processes

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(params=[JSONErrorThreadWorker, JSONErrorSyncWorker], ids=["gthread", "sync"])
def worker_class(request):
    """Both workers: gthread (gunicorn.conf.py's), and sync."""
    return request.param


def answer_to(worker_class, exc: BaseException) -> tuple[int, dict[str, str], bytes]:
    """What the worker writes to the client for `exc`, as status, headers and body."""
    cfg = Config()
    worker = worker_class(0, 0, [], None, 30, cfg, Logger(cfg))
    server_end, client_end = socket.socketpair()
    with server_end, client_end:
        worker.handle_error(None, server_end, ("127.0.0.1", 40000), exc)
        server_end.shutdown(socket.SHUT_WR)
        written = b""
        while part := client_end.recv(65536):
            written += part
    head, _, body = written.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (LimitRequestLine(5000, 4094), 414, "uri_too_long"),
        (LimitRequestHeaders("limit request headers fields size"), 431, "headers_too_large"),
        (InvalidRequestLine("GET"), 400, "malformed_request"),
        (InvalidHeader("X-Bad\x00"), 400, "malformed_request"),
        (InvalidChunkSize(b"zz"), 400, "malformed_request"),
        (ChunkMissingTerminator(b"xx"), 400, "malformed_request"),
        (UnsupportedTransferCoding("gzip"), 501, "unsupported_transfer_coding"),
    ],
    ids=["long-request-line", "big-headers", "bad-request-line", "bad-header", "bad-chunk", "chunk-end", "gzip"],
)
def test_worker__request_gunicorn_refuses__json_error_with_gunicorns_status(worker_class, exc, status, code):
    # Given a request gunicorn refuses before the application sees it
    # When the worker answers it
    answered, headers, body = answer_to(worker_class, exc)
    # Then the status is gunicorn's, and the body is the API's error shape naming the problem
    assert answered == status
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)["error"]
    assert error["code"] == code
    assert error["message"]


def test_worker__overlong_request_line__message_states_the_limit(worker_class):
    # Given a request line of 5,000 bytes
    # When the worker answers it
    _, _, body = answer_to(worker_class, LimitRequestLine(5000, 4094))
    # Then the client learns the limit, and where long input belongs
    message = json.loads(body)["error"]["message"]
    assert "4094 bytes" in message
    assert "body" in message


@pytest.mark.parametrize(
    "exc", [RuntimeError("a bug"), InvalidResponseHeader("X-Bad: \r\n")], ids=["app-bug", "app-header"]
)
def test_worker__error_that_is_not_the_clients__left_to_gunicorn(worker_class, exc):
    # Given an error of the application's own (not the client's request)
    # When the worker answers it
    status, headers, _ = answer_to(worker_class, exc)
    # Then gunicorn answers as it always does
    assert status == 500
    assert headers["content-type"] == "text/html"


@pytest.fixture
def config_read_here(monkeypatch, tmp_path):
    """gunicorn.conf.py may be run in this process: its metrics folder is a temporary one, and this process's
    metrics stay as they are (fresh_multiprocess_dir would switch them to the server's multiprocess mode)."""
    monkeypatch.setattr(processes, "fresh_multiprocess_dir", lambda kind: str(tmp_path))


@pytest.mark.parametrize(
    ("name", "worker", "threads"),
    [
        (None, JSONErrorSyncWorker, 1),
        ("sync", JSONErrorSyncWorker, 1),
        ("gthread", JSONErrorThreadWorker, 4),
    ],
)
def test_config__web_worker_class__gunicorn_runs_that_worker(config_read_here, monkeypatch, name, worker, threads):
    # Given gunicorn.conf.py read as gunicorn reads it, with WEB_WORKER_CLASS as given (WEB_THREADS unset)
    monkeypatch.delenv("WEB_THREADS", raising=False)
    if name is None:
        monkeypatch.delenv("WEB_WORKER_CLASS", raising=False)
    else:
        monkeypatch.setenv("WEB_WORKER_CLASS", name)
    cfg = Config()
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    for key in ("worker_class", "threads"):
        cfg.set(key, settings[key])
    # Then the worker gunicorn starts is ours (its JSON refusals), not one gunicorn swapped in for threads
    assert cfg.worker_class is worker
    assert cfg.threads == threads


def test_config__unknown_web_worker_class__refused_naming_the_choices(config_read_here, monkeypatch):
    monkeypatch.setenv("WEB_WORKER_CLASS", "eventlet")
    with pytest.raises(SystemExit, match="sync, gthread"):
        runpy.run_path(str(ROOT / "gunicorn.conf.py"))
