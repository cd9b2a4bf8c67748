"""Executions reported by the caller, buffered in memory and sent in batches by a background thread.

Every report carries a request id (`metadata.requestId`, generated when absent) and the moment it was
reported (`timestamp`): the server stores a template's request id once, so a batch sent again after a lost
answer stores nothing twice, and reports held during an outage count when they happened. While the server
is away the buffer keeps the newest `capacity` reports; older ones are dropped and counted.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections import deque
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from promptclient.transport import ServerUnavailable, Transport

logger = logging.getLogger("promptclient")

# The batch API takes up to 1,000 executions, and the server 1 MiB per body: batches stay under both.
MAX_BATCH = 1000
MAX_BATCH_BYTES = 512 * 1024
_ROW = re.compile(r"^executions\[(\d+)\]")
# Answers that sending the same batch again cannot change: the reports are dropped (and logged).
_PERMANENT = frozenset({401, 403, 404, 405, 415, 422})


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value) if isinstance(value, UUID) else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def prepared(execution: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """The execution as sent, with a request id and a timestamp, as plain JSON values, and its size in bytes;
    TypeError when a value cannot be JSON."""
    metadata = dict(execution.get("metadata") or {})
    metadata.setdefault("requestId", f"pc-{uuid.uuid4().hex}")
    full = {**execution, "metadata": metadata}
    full.setdefault("timestamp", datetime.now(UTC).isoformat())
    # NaN and infinities are not JSON: the server would refuse the whole batch they are in.
    encoded = json.dumps(full, default=_json_value, separators=(",", ":"), allow_nan=False)
    return json.loads(encoded), len(encoded.encode())


class ReportQueue:
    """The reports waiting to be sent, and the thread that sends them."""

    def __init__(
        self, transport: Transport, *, batch_size: int, interval: float, capacity: int, max_backoff: float
    ) -> None:
        self._transport = transport
        self._batch_size = max(1, min(batch_size, MAX_BATCH))
        self._interval = interval
        self._max_backoff = max_backoff
        self._capacity = capacity
        self.reset()

    def reset(self) -> None:
        """A fresh, empty queue, counters at zero and no thread: at start, and in a forked child (whose parent
        sends its own)."""
        self._waiting: deque[tuple[dict[str, Any], int]] = deque(maxlen=self._capacity)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._failing = False  # in a streak of failed sends: logged once, at its start
        self._thread: threading.Thread | None = None
        self.sent = 0  # reports the server acknowledged (stored, or stored before)
        self.dropped = 0  # the oldest, dropped while the buffer was full
        self.rejected = 0  # refused by the server, or not reportable (logged)

    @property
    def pending(self) -> int:
        """Reports not acknowledged yet (a batch in flight stays queued until the server has it)."""
        with self._lock:
            return len(self._waiting)

    def add(self, execution: dict[str, Any], size: int) -> None:
        """Queue one prepared report: never blocks on the network, never raises."""
        with self._lock:
            if len(self._waiting) == self._waiting.maxlen:
                self.dropped += 1  # deque(maxlen) drops the oldest on append
            self._waiting.append((execution, size))
            if len(self._waiting) >= self._batch_size:
                self._wake.notify()

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name="promptclient-reports", daemon=True)
                self._thread.start()

    def stop(self, timeout: float) -> int:
        """Send what is waiting (for up to `timeout` seconds), stop the thread: how many were left unsent."""
        with self._lock:
            self._stopping = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.pending

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
                batch = self._next_batch()
            try:
                sent = self._send(batch)
            except Exception:  # a bug must not end the sender: what it holds would never be sent
                logger.exception("promptclient: sending reports failed")
                sent = False
            if sent:
                backoff = 0.0
                continue
            if self._stopping:
                return  # the server is away and the caller is leaving: close() says how many are lost
            backoff = min(max(backoff * 2, 0.5), self._max_backoff)

    def _next_batch(self) -> list[tuple[dict[str, Any], int]]:
        """The oldest reports, up to the batch size and MAX_BATCH_BYTES (at least one). Call under the lock."""
        batch: list[tuple[dict[str, Any], int]] = []
        size = 0
        for item in self._waiting:
            if batch and (len(batch) == self._batch_size or size + item[1] > MAX_BATCH_BYTES):
                break
            batch.append(item)
            size += item[1]
        return batch

    def _send(self, batch: list[tuple[dict[str, Any], int]]) -> bool:
        """Send one batch; True when it is settled: the server has it, or refused what it will always refuse
        (dropped and logged). False to try again later."""
        try:
            answer = self._transport.post_batch([execution for execution, _ in batch])
        except ServerUnavailable as error:
            return self._failed(f"the server is unavailable ({error})")
        if answer.status in (200, 201):
            self._remove(batch)
            self.sent += len(batch)
            if self._failing:
                self._failing = False
                logger.info("promptclient: reports are sent again")
            return True
        invalid = [batch[index] for index in self._invalid_rows(answer.body) if index < len(batch)]
        if answer.status == 400 and invalid:
            # One invalid report refuses the whole batch: drop it (the caller's mistake, logged), send the rest.
            logger.error("promptclient: the server refused reports as invalid; dropped: %s", answer.body)
            self._drop(invalid)
            return True
        if answer.status in (403, 413) and len(batch) > 1:
            # Too large, or a report for a template this token may not report for: halves, until the
            # refused ones are alone (and dropped).
            self._batch_size = max(1, len(batch) // 2)
            return True
        if answer.status in _PERMANENT or answer.status in (400, 413):
            logger.error(
                "promptclient: the server refused %d reports (%d); dropped: %s", len(batch), answer.status, answer.body
            )
            self._drop(batch)
            return True
        return self._failed(f"the server answered {answer.status}: {answer.body}")

    def _failed(self, why: str) -> bool:
        if not self._failing:
            self._failing = True
            logger.warning("promptclient: reports wait to be sent, retried with backoff: %s", why)
        return False

    def _drop(self, refused: list[tuple[dict[str, Any], int]]) -> None:
        self._remove(refused)
        self.rejected += len(refused)

    @staticmethod
    def _invalid_rows(body: Any) -> list[int]:
        try:
            fields = body["error"]["fields"]
        except (KeyError, TypeError):
            return []
        return sorted({int(found.group(1)) for key in fields if (found := _ROW.match(key))})

    def _remove(self, done: list[tuple[dict[str, Any], int]]) -> None:
        with self._lock:
            ids = {id(item[0]) for item in done}
            kept = [item for item in self._waiting if id(item[0]) not in ids]
            self._waiting.clear()
            self._waiting.extend(kept)
