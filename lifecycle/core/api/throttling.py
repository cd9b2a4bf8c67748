"""Rate limits: per token (or signed-in user), per anonymous address; render and ingestion have their own.

DRF's throttle interface, with a fixed-window counter in the shared cache (Redis in production, so every
web worker and replica counts together) instead of DRF's list of request times, which a hot path would
read and rewrite whole on every request. A view picks its rate by `throttle_scope` ("render",
"ingestion"); every other authenticated request counts against "user". A request without valid
credentials counts against "anon", by its address, before its 401: DRF would reach its throttles only
after authentication and permissions, so a caller guessing keys or without any would never be limited.

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
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from lifecycle.core.api.credentials import Credential
from lifecycle.core.api.rates import Rate

logger = logging.getLogger(__name__)

# How long the cache is left alone after it failed.
CACHE_RETRY_SECONDS = 5.0


class _CacheHealth:
    """Whether to ask the cache now (per process): not for CACHE_RETRY_SECONDS after it failed."""

    down_until = 0.0
    down = False

    @classmethod
    def usable(cls) -> bool:
        return time.monotonic() >= cls.down_until

    @classmethod
    def failed(cls, error: Exception) -> None:
        if not cls.down:  # said once per outage, not every time it is tried again
            logger.warning(
                "rate limits off: the cache is unreachable (%s); trying it every %.0f s", error, CACHE_RETRY_SECONDS
            )
        cls.down = True
        cls.down_until = time.monotonic() + CACHE_RETRY_SECONDS

    @classmethod
    def answered(cls) -> None:
        if cls.down:
            cls.down = False
            logger.warning("rate limits back: the cache answers again")


def _increment(key: str, period: int) -> int:
    cache = caches[settings.THROTTLE_CACHE]
    if isinstance(cache, RedisCache):
        return _increment_in_redis(cache, key, period)
    try:
        return cache.incr(key)
    except ValueError:  # the window's first request (or its key just expired)
        # add() fails if another worker made the key in between: then count on theirs.
        if cache.add(key, 1, timeout=period + 1):
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # theirs expired in between: this is the first of a new window
            return 1


def _increment_in_redis(cache: RedisCache, key: str, period: int) -> int:
    """One round trip: create the window's counter with its expiry if it is missing, then count. (Django's
    incr() asks whether the key exists first: two round trips on every request.) The value is the plain
    integer Django's RedisCache stores for an int, so cache.get() reads it as any counter."""
    full_key = cache.make_and_validate_key(key)
    client = cache._cache.get_client(full_key, write=True)
    pipeline = client.pipeline(transaction=False)
    pipeline.set(full_key, 0, ex=period + 1, nx=True)
    pipeline.incr(full_key)
    _, count = pipeline.execute()
    return int(count)


def count_request(scope: str, ident: str, rate: Rate) -> float | None:
    """Count one request of `ident` in `scope`: None if it is within the rate, else the seconds until the
    window ends (Retry-After). Fail-open: None when the cache is unreachable."""
    if not _CacheHealth.usable():
        return None
    limit, period = rate
    now = time.time()
    window = int(now // period)
    try:
        count = _increment(f"throttle:{scope}:{ident}:{window}", period)
    except Exception as error:  # whatever the cache's client raises: connection refused, timeout, ...
        _CacheHealth.failed(error)
        return None
    _CacheHealth.answered()
    if count <= limit:
        return None
    return max((window + 1) * period - now, 1.0)


def _counted(request: HttpRequest, wait: float | None) -> None:
    """Mark the request counted, with its verdict: DRF's throttle then takes that verdict, never counts again."""
    request.throttle_counted = True  # type: ignore[attr-defined]
    request.throttle_wait = wait  # type: ignore[attr-defined]


def check_anonymous(request: HttpRequest) -> None:
    """Count a request without valid credentials against its address's "anon" rate: Throttled if over."""
    if getattr(request, "throttle_counted", False):
        return
    rate = settings.THROTTLE_RATES.get("anon")
    # DRF's address (REMOTE_ADDR, or X-Forwarded-For's entry NUM_PROXIES from the end) reads only META.
    address = BaseThrottle().get_ident(request)  # type: ignore[arg-type]
    wait = count_request("anon", f"ip:{address}", rate) if rate else None
    _counted(request, wait)
    if wait is not None:
        raise Throttled(wait)


def admit_token(request: HttpRequest, credential: Credential, scope: str) -> None:
    """Count an authenticated request (the render fast path's own check): Throttled if over its rate."""
    rate = settings.THROTTLE_RATES.get(scope)
    wait = count_request(scope, f"token:{credential.token_id}", rate) if rate else None
    _counted(request, wait)
    if wait is not None:
        raise Throttled(wait)


def _identity(request: Request) -> str | None:
    """Who an authenticated request counts against: its token, else its signed-in user."""
    if isinstance(request.auth, Credential):
        return f"token:{request.auth.token_id}"
    user = request.user
    return f"user:{user.pk}" if user is not None and user.is_authenticated else None


class AnonymousRateLimit:
    """The last authentication class: it authenticates no one, and counts a request that none of the
    others authenticated (no credentials) against its address, before IsAuthenticated answers 401."""

    def authenticate(self, request: Request) -> None:
        check_anonymous(request._request)

    def authenticate_header(self, request: Request) -> None:
        return None


class ClientRateThrottle(BaseThrottle):
    """The project's one throttle (DEFAULT_THROTTLE_CLASSES); rates in settings.THROTTLE_RATES."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        django_request = request._request
        if getattr(django_request, "throttle_counted", False):
            # counted already (anonymous, or by the render fast path): its verdict stands
            self._wait = getattr(django_request, "throttle_wait", None)
            return self._wait is None
        ident = _identity(request)
        scope = (getattr(view, "throttle_scope", None) or "user") if ident else "anon"
        rate = settings.THROTTLE_RATES.get(scope)
        if rate is None:
            return True
        self._wait = count_request(scope, ident or f"ip:{self.get_ident(request)}", rate)
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait
