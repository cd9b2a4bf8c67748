"""gunicorn's workers (gthread, the one gunicorn.conf.py runs, and sync), answering the requests gunicorn
itself refuses in the API's JSON error shape.

A request line over `limit_request_line`, headers over their limits, a malformed request line or header,
a broken chunked body: gunicorn refuses these before the application sees the request, and answers with
an HTML page of its own. Clients of the API expect `{"error": {"code", "message"}}` for every error
(API.md, "Conventions"), so this worker writes that instead, with the status gunicorn would have
chosen (414 for an overlong URL, 431 for oversized headers, 400, 417, 501). The limits themselves are
gunicorn's, set in gunicorn.conf.py; nothing here reads more of a request than gunicorn did.

Only `handle_error`, the hook gunicorn calls to write such an answer, is overridden: requests are
accepted, parsed and served exactly as by gunicorn's own worker. Errors that are not the client's (the
application's own 500s, TLS and PROXY-protocol problems) are left to gunicorn, as is any error class a
later gunicorn adds.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.http.errors import (
    ChunkMissingTerminator,
    ExpectationFailed,
    InvalidChunkExtension,
    InvalidChunkSize,
    InvalidHeader,
    InvalidHeaderName,
    InvalidHTTPVersion,
    InvalidRequestLine,
    InvalidRequestMethod,
    InvalidResponseHeader,
    InvalidResponseHeaderName,
    InvalidSchemeHeaders,
    LimitRequestHeaders,
    LimitRequestLine,
    ObsoleteFolding,
    UnsupportedTransferCoding,
)
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

_MALFORMED_BODY = (InvalidChunkSize, ChunkMissingTerminator, InvalidChunkExtension)
_MALFORMED_REQUEST = (
    InvalidRequestLine,
    InvalidRequestMethod,
    InvalidHTTPVersion,
    InvalidHeader,
    InvalidHeaderName,
    ObsoleteFolding,
    InvalidSchemeHeaders,
)
# Subclasses of InvalidHeader(Name) that gunicorn raises for the application's own response: a 500.
_NOT_THE_CLIENTS = (InvalidResponseHeader, InvalidResponseHeaderName)


class JSONErrors:
    """A gunicorn worker's refusals of malformed or oversized requests, in JSON (module docstring). Mixed into
    a worker class before gunicorn's own (which supplies `cfg`, `log` and the default handle_error)."""

    cfg: Any
    log: Any

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        answer = None if isinstance(exc, _NOT_THE_CLIENTS) else self._client_error(exc)
        if answer is None:
            super().handle_error(req, client, addr, exc)  # type: ignore[misc]  # the worker class after this one
            return
        started = time.monotonic()
        status, code, message = answer
        addr = addr or ("", -1)  # a Unix socket has no peer address
        self.log.warning("Invalid request from ip=%s: %s", addr[0], exc)
        payload = _json_error(code, message)
        if req is None and isinstance(exc, InvalidHeader | InvalidHeaderName):
            req = getattr(exc, "req", None)  # the request line was read: the access log can name it
        if req is not None:
            environ = default_environ(req, client, self.cfg)
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = addr[0], str(addr[1])
            response = Response(req, client, self.cfg)
            response.status = f"{status.value} {status.phrase}"
            response.response_length = len(payload)
            self.log.access(response, req, environ, timedelta(seconds=time.monotonic() - started))
        head = (
            f"HTTP/1.1 {status.value} {status.phrase}\r\n"
            "Connection: close\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        try:
            util.write_nonblock(client, head.encode("latin-1") + payload)
        except Exception:  # the client is gone: nothing to answer, as in gunicorn's own handle_error
            self.log.debug("Failed to send error message.")

    def _client_error(self, exc: BaseException) -> tuple[HTTPStatus, str, str] | None:
        """The status, code and message for a request the client got wrong; None for any other error."""
        cfg = self.cfg
        if isinstance(exc, LimitRequestLine):
            return (
                HTTPStatus.REQUEST_URI_TOO_LONG,
                "uri_too_long",
                f"The request line (method, URL and HTTP version) is over the limit of {cfg.limit_request_line} "
                "bytes. Send long input in the body.",
            )
        if isinstance(exc, LimitRequestHeaders):
            return (
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                f"The request's headers are over the limits: at most {cfg.limit_request_fields} header fields "
                f"of at most {cfg.limit_request_field_size} bytes each ({exc}).",
            )
        if isinstance(exc, UnsupportedTransferCoding):
            return HTTPStatus.NOT_IMPLEMENTED, "unsupported_transfer_coding", f"{exc}. Only chunked is supported."
        if isinstance(exc, ExpectationFailed):
            return HTTPStatus.EXPECTATION_FAILED, "expectation_failed", str(exc)
        if isinstance(exc, _MALFORMED_BODY):
            return HTTPStatus.BAD_REQUEST, "malformed_request", f"The chunked request body is malformed: {exc}."
        if isinstance(exc, _MALFORMED_REQUEST):
            return HTTPStatus.BAD_REQUEST, "malformed_request", f"Malformed HTTP request: {exc}."
        return None


class JSONErrorThreadWorker(JSONErrors, ThreadWorker):
    """gunicorn's gthread worker (gunicorn.conf.py's): a connection reaches a thread only once it has sent
    something, so connections opened and left idle keep no one waiting; with keep-alive."""


class JSONErrorSyncWorker(JSONErrors, SyncWorker):
    """gunicorn's sync worker: one connection at a time, each read to its end (behind a buffering proxy)."""


def _json_error(code: str, message: str) -> bytes:
    # Imported here, not at the top: gunicorn's master imports this module to learn the worker class,
    # before the application (and so Django's settings, which errors' DRF imports need) is loaded.
    # A worker only handles requests once it has loaded the application.
    from lifecycle.core.api.errors import error_body

    return json.dumps(error_body(code, message)).encode()
