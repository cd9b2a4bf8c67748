"""prometheus_client's multiprocess mode for the server's processes (see lifecycle.core.observability.metrics).

Imported by gunicorn.conf.py before the app (and so prometheus_client, which chooses its mode at import, from
PROMETHEUS_MULTIPROC_DIR) is loaded: this module imports prometheus_client only inside its functions.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def fresh_multiprocess_dir(kind: str) -> str:
    """Point prometheus_client's multiprocess mode at an empty folder for this server's processes. An
    operator's PROMETHEUS_MULTIPROC_DIR is emptied (its files are the last run's, and would be summed with
    this one's); without it, a new temporary folder. Returns the folder."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        os.makedirs(folder, exist_ok=True)
        for entry in os.scandir(folder):
            if entry.name.endswith(".db"):
                os.unlink(entry.path)
    else:
        folder = tempfile.mkdtemp(prefix=f"lifecycle-metrics-{kind}-")
        os.environ[MULTIPROC_ENV] = folder
    if "prometheus_client.values" in sys.modules:
        # Celery's worker loads Django, and so the apps' metrics, before its first signal. prometheus_client
        # chose its value class at import; a labelled metric makes its values with the class chosen at the
        # moment a label set is first used (in the pool processes, after this), so choosing again covers them.
        # (lifecycle/core/tests/test_observability.py's server test checks that the worker's counts are seen.)
        from prometheus_client import values

        values.ValueClass = values.get_value_class()
    return folder


def remove_multiprocess_dir(path: str) -> None:
    """At the server's exit: the folder's files are of no use to the next run."""
    if os.path.basename(path).startswith("lifecycle-metrics-"):
        shutil.rmtree(path, ignore_errors=True)


def process_exited(pid: int) -> None:
    """A worker process is gone: its live gauges go (its counters stay in the sums)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def serve_worker_metrics(host: str, port: int) -> Any:
    """The Celery worker's counters (its pool processes', summed) on http://host:port/metrics, served by a
    thread of the worker's main process; the scrape-time gauges are the web's /metrics's."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    found = CollectorRegistry(auto_describe=False)
    multiprocess.MultiProcessCollector(found)
    return start_http_server(port, addr=host, registry=found)
