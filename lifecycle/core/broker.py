"""The task broker: prepared before the server's processes start, probed by the health check and the metrics."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings


def declare_task_queues() -> None:
    """Declare Celery's task queues (and their exchanges) on the broker, once.

    On the embedded broker (kombu's filesystem transport) a binding is a JSON file that the first process
    to declare it creates, then writes, and the two steps are not atomic: a worker and beat declaring the
    same queue at the same moment on a fresh data folder (beat sends a task as it starts) can make one of
    them read the empty file and stop (JSONDecodeError, seen as `make run`'s worker exiting at startup; the
    race is known, treeverse/dvc-task#73). Declared here first, by one process, the file exists with its
    content before they start; later declarations read and rewrite it under the file's lock. On Redis it
    changes nothing."""
    from lifecycle.celery import app

    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in app.amqp.queues.values():
            queue(channel).declare()


# How long the health check and a metrics scrape wait for Redis: a probe must answer fast, broker down or not.
PROBE_TIMEOUT_SECONDS = 0.5
_redis_clients: dict[str, Any] = {}


def _redis() -> Any:
    """A client of REDIS_URL with short timeouts, kept (with its connection pool) across calls."""
    import redis

    url = settings.REDIS_URL
    if url not in _redis_clients:
        _redis_clients[url] = redis.Redis.from_url(
            url, socket_timeout=PROBE_TIMEOUT_SECONDS, socket_connect_timeout=PROBE_TIMEOUT_SECONDS
        )
    return _redis_clients[url]


def _queue_folder() -> Path:
    return Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"]))


def broker_reachable() -> bool:
    """Can tasks be queued now? Redis answers a PING; the embedded broker's folder is there and writable."""
    if settings.REDIS_URL:
        try:
            return bool(_redis().ping())
        except Exception:  # any way Redis can fail (refused, timeout, auth, DNS) is "unreachable"
            return False
    folder = _queue_folder()
    return folder.is_dir() and os.access(folder, os.W_OK)


def queue_length(queue: str) -> int:
    """How many tasks wait in `queue`: the Redis list's length, or the embedded broker's message files
    (kombu's filesystem transport writes one `<time>_<uuid>.<queue>.msg` file per message). Raises when
    the broker cannot be read."""
    if settings.REDIS_URL:
        return int(_redis().llen(queue))
    suffix = f".{queue}.msg"
    with os.scandir(_queue_folder()) as entries:
        return sum(1 for entry in entries if entry.name.endswith(suffix))
