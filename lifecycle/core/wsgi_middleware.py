"""Request bodies sent without a Content-Length (`Transfer-Encoding: chunked`), made readable by Django.

Django's WSGIRequest reads exactly CONTENT_LENGTH bytes of `wsgi.input`, and none when the header is
absent: a chunked body reached every view as empty, so a render answered as if no variables had been
sent, and an admin form as if nothing had been filled in. HTTP/1.1 clients (curl with `-T -`, streaming
HTTP libraries, some proxies) send bodies of unknown length that way.

This is a WSGI middleware around the Django application (lifecycle/wsgi.py) rather than a Django
middleware because the fix is to the environ itself: once the body is read, CONTENT_LENGTH and
`wsgi.input` describe it as if it had been sent with a length, and everything behind (Django's request,
the CSRF check, the admin's forms, DRF's parser and its size limit, the render fast path) works
unchanged. A Django middleware would come too late: WSGIRequest has by then wrapped `wsgi.input` in a
stream of length 0, and undoing that means replacing its private `_stream`.

Only the server knows whether the chunked framing has been removed and the input ends where the body
ends: gunicorn says so with `wsgi.input_terminated`. Without it (e.g. `manage.py runserver`), reading
`wsgi.input` would return the raw chunk framing or wait for bytes that never come, so the request is
refused with 411 and a message saying to send a Content-Length.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from http import HTTPStatus
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from django.conf import settings

from lifecycle.core.request_body import drain, read_at_most, too_large_message


class ChunkedBodyMiddleware:
    """Reads a body framed by the server (no CONTENT_LENGTH) within the size limit, or refuses it."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # Every request passes here (render is the hot path): two dictionary lookups for those that
        # carry a length or no body at all.
        if environ.get("CONTENT_LENGTH") or "HTTP_TRANSFER_ENCODING" not in environ:
            return self.app(environ, start_response)
        if not environ.get("wsgi.input_terminated"):
            return _error(
                start_response,
                HTTPStatus.LENGTH_REQUIRED,
                "length_required",
                "This server cannot read a body sent without a length (Transfer-Encoding: chunked): "
                "send it with a Content-Length header.",
            )
        limit: int = settings.MAX_REQUEST_BODY_BYTES
        stream = environ["wsgi.input"]
        body = read_at_most(stream, limit + 1)
        if len(body) > limit:
            drain(stream, limit)
            return _error(
                start_response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", too_large_message(limit)
            )
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        # The body now has a length; the framing it came in is the server's business, already undone.
        del environ["HTTP_TRANSFER_ENCODING"]
        return self.app(environ, start_response)


def _error(start_response: StartResponse, status: HTTPStatus, code: str, message: str) -> list[bytes]:
    # Imported here: errors imports DRF, which needs Django's settings, and this module is imported by
    # lifecycle/wsgi.py before Django is set up. By the first request it is.
    from lifecycle.core.api.errors import error_body

    # JSON for every path, the admin's included: the request never reached Django, and a browser's form
    # never arrives chunked.
    payload = json.dumps(error_body(code, message)).encode()
    start_response(
        f"{status.value} {status.phrase}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]
