"""gunicorn settings for `make run` (and `make bench`, which starts the server the same way)."""

import multiprocessing
import os

from lifecycle.core.observability import processes

# Prometheus's multiprocess mode: each worker keeps its counts in a file of this folder and /metrics sums
# them (lifecycle.core.observability.metrics). Set up here, before the app is loaded and imports
# prometheus_client, and emptied at each start: the last run's files would add to this one's.
METRICS_DIR = processes.fresh_multiprocess_dir("web")

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Sync workers, one per core: the render path is CPU-bound (each request is a few short indexed
# lookups), so more processes than cores only add switching. WEB_CONCURRENCY overrides.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
# The worker class, WEB_WORKER_CLASS (both answer gunicorn's own refusals of malformed or oversized requests,
# an overlong URL's 414, in the API's JSON error shape instead of gunicorn's HTML page):
# - sync (the default, docker-compose.yml's too): one connection at a time per process, read to its end; the
#   fastest by far here (README, "Render" and "Mixed load"). A connection opened and left silent holds a
#   process until gunicorn's timeout, so it belongs on the loopback (`make run`) or behind a proxy that
#   buffers each request before passing it on (nginx does by default).
# - gthread: WEB_THREADS threads per process, keep-alive; gunicorn 27 gives a silent new connection 5 s to
#   send something, then parks it until it does, so silent connections no longer stop the server
#   (lifecycle/tests/test_hostile_clients.py). A request left half-sent still holds its thread: no
#   substitute for a buffering proxy. Measured at less than half sync's ceiling on 2 cores (README).
_WORKER_CLASSES = {
    "sync": "lifecycle.core.gunicorn_worker.JSONErrorSyncWorker",
    "gthread": "lifecycle.core.gunicorn_worker.JSONErrorThreadWorker",
}
_worker_class_name = os.environ.get("WEB_WORKER_CLASS", "sync")
if _worker_class_name not in _WORKER_CLASSES:
    raise SystemExit(f"WEB_WORKER_CLASS must be one of {', '.join(_WORKER_CLASSES)}, not {_worker_class_name!r}")
worker_class = _WORKER_CLASSES[_worker_class_name]
# gthread only: gunicorn replaces any *SyncWorker class with its own gthread worker when threads > 1.
threads = int(os.environ.get("WEB_THREADS", "4")) if _worker_class_name == "gthread" else 1
# gthread: idle keep-alive connections are closed after this many seconds (each costs a descriptor, no thread).
keepalive = 5
# gunicorn's own limits, stated so that they stay bounded: the request line (method, URL, version) and
# each header field in bytes, and the number of header fields.
limit_request_line = 4094
limit_request_field_size = 8190
limit_request_fields = 100
# Load the app before forking: workers share its memory and start answering at once.
preload_app = True
# The access log is the app's (lifecycle.core.observability.middleware: one line per request, with its
# request id and route); ACCESS_LOG adds gunicorn's own. gunicorn's messages go through the app's logging
# once it is loaded (lifecycle.core.observability.logs), as JSON lines with LOG_FORMAT=json.
accesslog = os.environ.get("ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
timeout = 30
graceful_timeout = 10
# A worker that has served this many requests is replaced: a leak can never grow without bound.
max_requests = 200_000
max_requests_jitter = 20_000


def post_fork(server, worker):
    # Connections opened while preloading must not be shared between processes.
    from django.db import connections

    connections.close_all()


def child_exit(server, worker):
    # A worker that exits (max_requests, a timeout, a crash) leaves its counts to the sums, not its gauges.
    processes.process_exited(worker.pid)


def on_exit(server):
    processes.remove_multiprocess_dir(METRICS_DIR)
