"""Views of the kernel: the health check, and the plain view the benchmark measures render against."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from lifecycle.core.models import WorkerHeartbeat


def health(request: HttpRequest) -> JsonResponse:
    """For load balancers and `make run` users: is the database reachable, has the worker run lately?"""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        beat = WorkerHeartbeat.objects.filter(name="worker").values_list("beat_at", flat=True).first()
    except Exception:
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    stale_after = timedelta(seconds=3 * settings.HEARTBEAT_SECONDS)
    worker = {
        "lastHeartbeatAt": beat.isoformat() if beat else None,
        "alive": bool(beat and timezone.now() - beat < stale_after),
    }
    return JsonResponse({"status": "ok", "database": "ok", "worker": worker})


def bench_plain(request: HttpRequest) -> HttpResponse:
    """The ceiling: a plain Django view, no DRF, no auth, no database. Mounted only for `make bench`."""
    return JsonResponse({"ok": True})
