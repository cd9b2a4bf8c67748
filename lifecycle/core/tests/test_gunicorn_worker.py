"""What gunicorn refuses before the application sees a request is answered in the API's JSON error shape,
with gunicorn's status; anything else stays gunicorn's. test_server.py sends such requests to the real
server; here the worker's error hook writes to one end of a socket pair."""

from __future__ import annotations

import json
import socket

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
