"""Every request's id and access log line, and Prometheus's per-endpoint request metrics."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty
from django_prometheus import middleware as django_prometheus
from django_prometheus.utils import Time, TimeSince

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy or a client may pass on as the request id: ids of the usual shapes (UUIDs, ULIDs, trace ids,
# base64), nothing that could forge a log field or a header (no spaces, quotes, control characters).
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+/@-]{1,128}")

access_log = structlog.get_logger("lifecycle.access")


def route_of(request: HttpRequest) -> str:
    """The endpoint a request reached, as its URL pattern: `/api/templates/<uuid:template_id>/render`.

    Metrics and logs are labelled with it, never with the raw path: a path holds ids, so every template
    would make a new time series. The trailing-slash twin of an API route (lifecycle.core.api.routes) counts
    as its route; a path no pattern matches (404s, scanners) is `<unresolved>`.
    """
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unresolved>"
    return "/" + match.route.rstrip("/")


def request_id_of(request: HttpRequest) -> str:
    """The caller's X-Request-ID when it is sane (a proxy's or a client's trace), else a new one."""
    incoming = request.META.get("HTTP_X_REQUEST_ID", "")
    if _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def _user_id(request: HttpRequest) -> Any:
    # DRF sets request.user on the Django request once it has authenticated (so does render's fast path);
    # otherwise it is the session's lazy user, which is left unread: reading it would cost a query.
    user = request.__dict__.get("user")
    if user is None or (isinstance(user, SimpleLazyObject) and user._wrapped is empty):
        return None
    return user.pk if user.is_authenticated else None


def _logged(status: int, duration_ms: float) -> bool:
    """Whether a request gets its access line (ACCESS_LOG): every one, or only those an operator looks
    for (an error answer, or a slow one). A line per request cost render more than half its throughput
    (formatting, and the pipe to the log collector); per-route rates and latencies are in the metrics."""
    mode = settings.ACCESS_LOG
    if mode == "all":
        return True
    return mode == "errors" and (status >= 400 or duration_ms >= settings.ACCESS_LOG_SLOW_MS)


class RequestContextMiddleware:
    """Gives each request an id, binds it to the log context of everything logged while it is served,
    returns it in the X-Request-ID header, and logs an access line (ACCESS_LOG: for every request, or for
    errors and slow ones): method, route, status, duration, user.

    No header, body, query string or token is logged: they may hold credentials or personal data."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_of(request)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        response = self.get_response(request)  # an exception has become a 500 response by now
        response[REQUEST_ID_HEADER] = request_id
        duration_ms = (time.perf_counter() - started) * 1000
        if _logged(response.status_code, duration_ms):
            access_log.info(
                "request",
                method=request.method,
                route=route_of(request),
                status=response.status_code,
                duration_ms=round(duration_ms, 2),
                user_id=_user_id(request),
            )
        # The id stays bound until the next request clears it: Django logs a 5xx answer ("Internal Server
        # Error: ...") after this middleware has returned, and that line needs it most.
        return response


class PrometheusMiddleware(django_prometheus.PrometheusAfterMiddleware):
    """django-prometheus's per-view metrics, labelled by route (route_of) and cut to the ones operators use:
    responses by route, method and status (rate and errors), latency by route and method, exceptions.

    Render runs on every LLM call: django-prometheus's full set (a dozen counters and histograms per
    request, by transport, charset, body sizes, ...) cost about 145 µs of CPU per render, these two about a
    third of that. It sits last in MIDDLEWARE: the latency is the view's.
    """

    def process_request(self, request: HttpRequest) -> None:
        request.prometheus_after_middleware_event = Time()  # type: ignore[attr-defined]

    def process_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        return None

    def process_template_response(self, request: HttpRequest, response: Any) -> Any:
        return response

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        view, method = route_of(request), self._method(request)
        metrics = self.metrics
        metrics.responses_by_status_view_method.labels(str(response.status_code), view, method).inc()
        started = getattr(request, "prometheus_after_middleware_event", None)
        if started is not None:
            metrics.requests_latency_by_view_method.labels(view, method).observe(TimeSince(started))
        return response

    def label_metric(self, metric: Any, request: Any, response: Any = None, **labels: Any) -> Any:
        # process_exception, django-prometheus's own: the same route label.
        if "view" in labels:
            labels["view"] = route_of(request)
        return super().label_metric(metric, request, response, **labels)
