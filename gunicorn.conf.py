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
# gunicorn's sync worker, whose refusals of malformed or oversized requests (an overlong URL: 414) are in
# the API's JSON error shape instead of gunicorn's HTML page; it serves requests exactly as "sync" does.
worker_class = "lifecycle.core.gunicorn_worker.JSONErrorSyncWorker"
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
