"""A webhook receiver for tests: a threaded HTTP server on 127.0.0.1 that records every request it gets."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case, as receivers read them (HTTP's names ignore case)
    body: bytes


class Receiver:
    """Answers each POST with `status` (or the next of `statuses`, while any are left), after `delay`
    seconds; with `hang`, reads the request and never answers (until the receiver stops)."""

    def __init__(self) -> None:
        self.status = 200
        self.statuses: list[int] = []
        self.delay = 0.0
        self.hang = False
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/lifecycle"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    receiver.requests.append(Received(self.path, headers, body))
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.status
                if receiver.hang:
                    receiver._stop.wait(30)
                    return
                time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(f"answered {status}".encode())

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def ids(self) -> list[str]:
        """The `webhook-id` of each request, in the order they came."""
        return [request.headers["webhook-id"] for request in self.requests]

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=10)
