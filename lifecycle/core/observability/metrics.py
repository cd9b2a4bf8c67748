"""Prometheus metrics: what each process counts, what a scrape reads from the database and the broker, and
the /metrics endpoint.

Three kinds, each where it stays true with many processes:
- Counters of what happens in a web request (requests per route, executions ingested) live in the gunicorn
  worker that served it. gunicorn runs several workers, so prometheus_client's multiprocess mode keeps
  each worker's values in a file of PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py makes it) and /metrics sums
  them: whichever worker answers the scrape reports the whole server.
- Counters of what happens in a Celery task (rule evaluations, deliveries, tasks) live in the worker's
  pool processes; the worker serves them on its own port (lifecycle.core.observability.processes), summed
  the same way.
- Gauges of the shared state (roll-up lag, queue length, heartbeat age) are read from the database and the
  broker when /metrics is scraped (ScrapeCollector), not kept by any process: a gauge set by one process
  would be stale in the others, and one computed at scrape time is right whichever process or replica
  answers (every web replica reports the same value: aggregate them with max, not sum).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Protocol

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from lifecycle.core.observability.processes import MULTIPROC_ENV

logger = logging.getLogger(__name__)


# Counted in the worker (lifecycle.celery's signals): each task run by name and outcome (success, failure, retry).
celery_tasks = Counter("lifecycle_celery_tasks", "Celery tasks run, by task name and outcome.", ["task", "outcome"])


class ScrapeCollector(Protocol):
    """Reads its figures when /metrics is scraped."""

    def collect(self) -> Iterable[Metric]: ...


_scrape_collectors: list[ScrapeCollector] = []


def register_scrape_collector(collector: ScrapeCollector) -> None:
    """Add a collector to /metrics: an app's AppConfig.ready calls it for the figures it owns (the kernel
    imports no app)."""
    if not any(type(known) is type(collector) for known in _scrape_collectors):
        _scrape_collectors.append(collector)


class _Guarded:
    """A scrape collector whose failure (the database or the broker down) drops its figures, not the scrape:
    Prometheus records the rest, and the missing series say what could not be read."""

    def __init__(self, collector: ScrapeCollector) -> None:
        self.collector = collector

    def collect(self) -> Iterator[Metric]:
        try:
            yield from list(self.collector.collect())
        except Exception:
            logger.warning("metrics: %s could not be read", type(self.collector).__name__, exc_info=True)


class _ThisProcess:
    """The default registry (one process: tests, `manage.py runserver`) as a collector of another registry."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def registry() -> CollectorRegistry:
    """What one scrape reports: every process's counters (or this process's) and the scrape-time gauges."""
    from prometheus_client import multiprocess

    found = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(found)
    else:
        found.register(_ThisProcess())  # type: ignore[arg-type]
    for collector in _scrape_collectors:
        found.register(_Guarded(collector))  # type: ignore[arg-type]
    return found


def seconds_since(moment: datetime | None) -> float | None:
    return None if moment is None else max(0.0, (timezone.now() - moment).total_seconds())


def gauge(name: str, documentation: str, value: float, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), value)
    return family


class KernelCollector:
    """The worker's heartbeat age and the Celery queue's length, read at scrape time."""

    def collect(self) -> Iterator[Metric]:
        from lifecycle.core.broker import queue_length
        from lifecycle.core.models import WorkerHeartbeat

        beat_at = WorkerHeartbeat.objects.filter(name="worker").values_list("beat_at", flat=True).first()
        age = seconds_since(beat_at)
        if age is not None:  # never beaten yet: no sample, rather than a made-up age
            yield gauge(
                "lifecycle_worker_heartbeat_age_seconds", "Seconds since a Celery worker last ran the heartbeat.", age
            )
        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        waiting = queue_length(queue)
        yield gauge("lifecycle_celery_queue_length", "Tasks waiting in the broker's queue.", waiting, {"queue": queue})


# ACCESS
def _loopback(request: HttpRequest) -> bool:
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _refusal(request: HttpRequest) -> HttpResponse | None:
    """Who may read /metrics (README, "Observability"): with METRICS_TOKEN set, whoever sends it as a bearer
    token; without it, nobody in production (the endpoint is not there) and this machine only otherwise."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        refused = JsonResponse(
            {"error": {"code": "not_authenticated", "message": "Send the metrics token: Authorization: Bearer ..."}},
            status=401,
        )
        refused["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return refused
    if not settings.PRODUCTION and _loopback(request):
        return None
    return JsonResponse({"error": {"code": "not_found", "message": "Not found."}}, status=404)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: the Prometheus text format, for a scraper allowed by _refusal."""
    refused = _refusal(request)
    if refused is not None:
        return refused
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
