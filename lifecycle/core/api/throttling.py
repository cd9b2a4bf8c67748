"""Rate limits: per token (or signed-in user), per anonymous IP; render and ingestion have their own.

DRF's throttle interface, with a fixed-window counter in the shared cache (Redis in production, so every
web worker and replica counts together) instead of DRF's list of request times, which a hot path would
read and rewrite whole on every request. A view picks its rate by `throttle_scope` ("render",
"ingestion"); every other authenticated request counts against "user", anonymous ones against "anon".

A limit protects the service; it must never take it down: when the cache cannot be reached, requests
are let through (and, for a few seconds, the cache is not asked again, so an outage does not add a
timeout to every request).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from lifecycle.core.api.authentication import Credential
from lifecycle.core.api.rates import Rate

logger = logging.getLogger(__name__)

# How long the cache is left alone after it failed.
CACHE_RETRY_SECONDS = 5.0


class _CacheHealth:
    """Whether to ask the cache now (per process): not for CACHE_RETRY_SECONDS after it failed."""

    down_until = 0.0

    @classmethod
    def usable(cls) -> bool:
        return time.monotonic() >= cls.down_until

    @classmethod
    def failed(cls, error: Exception) -> None:
        if cls.usable():  # once per outage, not once per request
            logger.warning("rate limits off for %.0f s: the cache is unreachable (%s)", CACHE_RETRY_SECONDS, error)
        cls.down_until = time.monotonic() + CACHE_RETRY_SECONDS


def count_request(scope: str, ident: str, rate: Rate) -> float | None:
    """Count one request of `ident` in `scope`: None if it is within the rate, else the seconds until the
    window ends (Retry-After). Fail-open: None when the cache is unreachable."""
    if not _CacheHealth.usable():
        return None
    limit, period = rate
    now = time.time()
    window = int(now // period)
    key = f"throttle:{scope}:{ident}:{window}"
    cache = caches[settings.THROTTLE_CACHE]
    try:
        try:
            count = cache.incr(key)
        except ValueError:  # the window's first request (or its key just expired)
            # add() fails if another worker made the key in between: then count on theirs.
            count = 1 if cache.add(key, 1, timeout=period + 1) else cache.incr(key)
    except Exception as error:  # whatever the cache's client raises: connection refused, timeout, ...
        _CacheHealth.failed(error)
        return None
    if count <= limit:
        return None
    return max((window + 1) * period - now, 1.0)


def identity_of(request: Request | HttpRequest, auth: Any, user: Any) -> str:
    """Who a request counts against: its token, else its signed-in user, else its address."""
    if isinstance(auth, Credential):
        return f"token:{auth.token_id}"
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return ""  # anonymous: the throttle asks for the address


def scope_of(view: Any, authenticated: bool) -> str:
    if not authenticated:
        return "anon"
    return getattr(view, "throttle_scope", None) or "user"


class ClientRateThrottle(BaseThrottle):
    """The project's one throttle (DEFAULT_THROTTLE_CLASSES); rates in settings.THROTTLE_RATES."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        if getattr(request._request, "throttle_counted", False):
            return True  # the render fast path counted this request already, then handed it to DRF's way
        ident = identity_of(request, request.auth, request.user)
        scope = scope_of(view, bool(ident))
        rate = settings.THROTTLE_RATES.get(scope)
        if rate is None:
            return True
        self._wait = count_request(scope, ident or f"ip:{self.get_ident(request)}", rate)
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait
