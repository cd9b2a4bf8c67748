"""Executions reported by the caller, buffered in memory and sent in batches by a background thread.

Every report carries a request id (`metadata.requestId`, generated when absent): the server stores a
template's request id once, so a batch sent again after a timeout stores nothing twice. While the server
is away the buffer keeps the newest `capacity` reports; older ones are dropped and counted.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections import deque
from collections.abc import Mapping
from typing import Any

from promptclient.transport import ServerUnavailable, Transport

logger = logging.getLogger("promptclient")

# The batch API takes up to 1,000 executions a request.
MAX_BATCH = 1000
_ROW = re.compile(r"^executions\[(\d+)\]")


def with_request_id(execution: Mapping[str, Any]) -> dict[str, Any]:
    """The execution with a `metadata.requestId` (a new one when absent)."""
    metadata = dict(execution.get("metadata") or {})
    metadata.setdefault("requestId", f"pc-{uuid.uuid4().hex}")
    return {**execution, "metadata": metadata}


class ReportQueue:
    """The reports waiting to be sent, and the thread that sends them."""

    def __init__(
        self, transport: Transport, *, batch_size: int, interval: float, capacity: int, max_backoff: float
    ) -> None:
        self._transport = transport
        self._batch_size = min(batch_size, MAX_BATCH)
        self._interval = interval
        self._max_backoff = max_backoff
        self._waiting: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._failing = False  # in a streak of failed sends: logged once, at its start
        self._thread: threading.Thread | None = None
        self.sent = 0  # reports the server acknowledged (stored, or already stored)
        self.dropped = 0  # the oldest, dropped while the buffer was full
        self.rejected = 0  # refused by the server as invalid (logged)

    @property
    def pending(self) -> int:
        """Reports not acknowledged yet (a batch in flight stays queued until the server has it)."""
        with self._lock:
            return len(self._waiting)

    def add(self, execution: dict[str, Any]) -> None:
        """Queue one report: never blocks on the network, never raises."""
        with self._lock:
            if len(self._waiting) == self._waiting.maxlen:
                self.dropped += 1  # deque(maxlen) drops the oldest on append
            self._waiting.append(execution)
            if len(self._waiting) >= self._batch_size:
                self._wake.notify()

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="promptclient-reports", daemon=True)
            self._thread.start()

    def stop(self, timeout: float) -> None:
        """Send what is waiting (for up to `timeout` seconds), then stop the thread."""
        with self._lock:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = 0.0
        while True:
            with self._lock:
                if not self._stopping:
                    # After a failure, wait out the backoff whatever arrives; else until a batch is full.
                    self._wake.wait_for(
                        lambda: self._stopping or (not backoff and len(self._waiting) >= self._batch_size),  # noqa: B023
                        timeout=backoff or self._interval,
                    )
                if not self._waiting:
                    if self._stopping:
                        return
                    continue
                batch = [self._waiting[index] for index in range(min(self._batch_size, len(self._waiting)))]
            sent = self._send(batch)
            if sent:
                backoff = 0.0
                continue
            backoff = min(max(backoff * 2, 0.5), self._max_backoff)
            if self._stopping:
                return  # the server is away and the caller is leaving: what is left is lost (logged)

    def _send(self, batch: list[dict[str, Any]]) -> bool:
        """Send one batch; True when the server has it (what it refused as invalid is dropped and logged)."""
        try:
            answer = self._transport.post_batch(batch)
        except ServerUnavailable as error:
            return self._failed(f"the server is unavailable ({error})")
        if answer.status in (200, 201):
            self._remove(batch)
            self.sent += len(batch)
            if self._failing:
                self._failing = False
                logger.info("promptclient: reports are sent again")
            return True
        rows = self._invalid_rows(answer.body)
        if answer.status == 400 and rows:
            # One invalid report refuses the whole batch: drop it (the caller's mistake, logged), send the rest.
            logger.error("promptclient: the server refused reports as invalid and dropped them: %s", answer.body)
            self._remove([batch[index] for index in rows if index < len(batch)])
            self.rejected += len(rows)
            return True
        return self._failed(f"the server answered {answer.status}: {answer.body}")

    def _failed(self, why: str) -> bool:
        if not self._failing:
            self._failing = True
            logger.warning("promptclient: reports wait to be sent, retried with backoff: %s", why)
        return False

    @staticmethod
    def _invalid_rows(body: Any) -> list[int]:
        try:
            fields = body["error"]["fields"]
        except (KeyError, TypeError):
            return []
        return sorted({int(found.group(1)) for key in fields if (found := _ROW.match(key))})

    def _remove(self, done: list[dict[str, Any]]) -> None:
        with self._lock:
            ids = {id(item) for item in done}
            kept = [item for item in self._waiting if id(item) not in ids]
            self._waiting.clear()
            self._waiting.extend(kept)
