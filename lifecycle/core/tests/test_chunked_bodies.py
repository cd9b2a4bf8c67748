"""Bodies sent without a Content-Length (Transfer-Encoding: chunked) are read within the size limit, or
refused with 411, never taken as empty. The WSGI middleware is driven here with environs as gunicorn
builds them; test_server.py sends such requests to the real server."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings

from lifecycle.core.wsgi_middleware import ChunkedBodyMiddleware
from lifecycle.testing.api import api_key_for
from lifecycle.wsgi import application as served_application


def environ_for(body: bytes, path: str = "/api/templates", terminated: bool = True, **headers: str) -> dict[str, Any]:
    """A POST as gunicorn hands it over for a chunked body: de-chunked input, no CONTENT_LENGTH."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "CONTENT_TYPE": "application/json",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        **headers,
    }
    if terminated:
        environ["wsgi.input_terminated"] = True
    return environ


class Recorder:
    """An inner WSGI app that records the request Django would build from the environ it is given."""

    def __init__(self) -> None:
        self.requests: list[WSGIRequest] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        request = WSGIRequest(environ)
        request.body  # noqa: B018  # read now, as a view would
        self.requests.append(request)
        start_response("204 No Content", [])
        return []


def call(app: Any, environ: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"], answer["headers"] = int(status.split()[0]), dict(headers)

    chunks = app(environ, start_response)
    body = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return answer["status"], answer["headers"], body


def test_chunked_body__input_terminated_by_the_server__django_reads_it_with_its_length():
    # Given a chunked JSON body, which gunicorn has de-chunked and terminated
    body = b'{"name": "sent in chunks"}'
    inner = Recorder()
    # When it passes the middleware
    status, _, _ = call(ChunkedBodyMiddleware(inner), environ_for(body))
    # Then Django's request holds it, with its length, as if it had been sent with a Content-Length
    assert status == 204
    (request,) = inner.requests
    assert request.body == body
    assert request.META["CONTENT_LENGTH"] == str(len(body))
    assert "HTTP_TRANSFER_ENCODING" not in request.META


@override_settings(MAX_REQUEST_BODY_BYTES=100)
@pytest.mark.parametrize("size", [0, 100])
def test_chunked_body__empty_or_exactly_at_the_limit__read(size):
    # Given a chunked body of `size` bytes, the limit being 100
    inner = Recorder()
    # When it passes the middleware
    call(ChunkedBodyMiddleware(inner), environ_for(b"x" * size))
    # Then it is read whole
    assert inner.requests[0].body == b"x" * size


class CountingStream(io.BytesIO):
    """A request body that remembers how much of it was read in one call at most."""

    largest_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.largest_read = max(self.largest_read, len(data))
        return data


@override_settings(MAX_REQUEST_BODY_BYTES=100)
def test_chunked_body__over_the_limit__413_json_and_the_app_never_called():
    # Given a chunked body of 1,000 bytes, the limit being 100
    inner = Recorder()
    environ = environ_for(b"")
    environ["wsgi.input"] = stream = CountingStream(b"x" * 1000)
    # When it passes the middleware
    status, headers, body = call(ChunkedBodyMiddleware(inner), environ)
    # Then it is refused with the API's error shape before Django sees it
    assert status == 413
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(body)
    error = json.loads(body)["error"]
    assert error["code"] == "payload_too_large"
    assert "100 bytes" in error["message"]
    assert inner.requests == []
    # And no more than limit + 1 bytes were ever held at once; the rest was read off the connection
    # (and dropped) so that the client gets to read the answer
    assert stream.largest_read <= 101
    assert stream.tell() == 1000


def test_chunked_body__input_not_terminated_by_the_server__411_json_and_body_not_read():
    # Given a chunked body under a server that does not say its input ends with the body (runserver)
    inner = Recorder()
    environ = environ_for(b'{"name": "x"}', terminated=False)
    # When it passes the middleware
    status, headers, body = call(ChunkedBodyMiddleware(inner), environ)
    # Then it is refused, saying to send a Content-Length, and nothing was read
    assert status == 411
    assert headers["Content-Type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "length_required"
    assert "Content-Length" in error["message"]
    assert inner.requests == []
    assert environ["wsgi.input"].tell() == 0


def test_body_with_content_length__passed_on_untouched():
    # Given a body sent with a Content-Length
    body = b'{"name": "plain"}'
    environ = environ_for(body, CONTENT_LENGTH=str(len(body)))
    del environ["HTTP_TRANSFER_ENCODING"]
    stream = environ["wsgi.input"]
    inner = Recorder()
    # When it passes the middleware
    call(ChunkedBodyMiddleware(inner), environ)
    # Then the app reads it from the server's own stream
    assert inner.requests[0].environ["wsgi.input"] is stream
    assert inner.requests[0].body == body


def test_wsgi_application__served_by_gunicorn__reads_chunked_bodies():
    # Given the application gunicorn serves (lifecycle.wsgi:application)
    # Then chunked bodies are read before Django sees them
    assert isinstance(served_application, ChunkedBodyMiddleware)


@pytest.fixture
def django_app(db: None) -> Iterator[Any]:
    """Django's WSGI application behind the middleware, as lifecycle/wsgi.py builds it, inside the test's
    transaction: like Django's test client, it keeps the request signals from closing the connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield ChunkedBodyMiddleware(WSGIHandler())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_chunked_render__through_django__answer_uses_the_body(django_app, reader, create_template):
    # Given a template active in development, and an integration's token
    template = create_template(content="Answer: {{inquiry}}")
    key = api_key_for(reader)
    body = json.dumps({"environment": "development", "variables": {"inquiry": "sent in chunks"}}).encode()
    # When it renders with a chunked body
    status, _, answer = call(
        django_app,
        environ_for(body, path=f"/api/templates/{template.pk}/render", HTTP_AUTHORIZATION=f"Token {key}"),
    )
    # Then the answer is rendered from that body
    assert status == 200, answer
    assert json.loads(answer)["rendered"] == "Answer: sent in chunks"
