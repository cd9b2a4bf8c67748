"""Views of the kernel: the health check, and the plain view the benchmark measures render against (the
metrics endpoint is lifecycle.core.observability.metrics.metrics_view)."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from lifecycle.core.broker import broker_reachable
from lifecycle.core.models import WorkerHeartbeat


def health(request: HttpRequest) -> JsonResponse:
    """For load balancers, probes and `make run` users: the database, the broker, and the worker's lag.

    503 only when the database is unreachable: nothing works then, and a load balancer should take this
    replica out. A broker outage is 200 with status "degraded": render, resolve and ingestion do not use
    the broker, so taking every web replica out for it would turn a partial outage into a full one; rule
    evaluation and deliveries resume when it returns (the outbox keeps what is due). The worker's lag is
    reported, and does not change the status: a web replica cannot fix it either.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        beat = WorkerHeartbeat.objects.filter(name="worker").values_list("beat_at", flat=True).first()
    except Exception:
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    broker = "ok" if broker_reachable() else "unreachable"
    lag = (timezone.now() - beat).total_seconds() if beat else None
    worker = {
        "lastHeartbeatAt": beat.isoformat() if beat else None,
        "alive": lag is not None and lag < 3 * settings.HEARTBEAT_SECONDS,
        "lagSeconds": None if lag is None else round(max(lag, 0.0), 1),
    }
    status = "ok" if broker == "ok" else "degraded"
    return JsonResponse({"status": status, "database": "ok", "broker": broker, "worker": worker})


def bench_plain(request: HttpRequest) -> HttpResponse:
    """The ceiling: a plain Django view, no DRF, no auth, no database. Mounted only for `make bench`."""
    return JsonResponse({"ok": True})
