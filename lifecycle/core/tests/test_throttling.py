"""Rate limits: per token, per signed-in user, per anonymous address; render and ingestion on their own
rates; 429 with Retry-After; and requests let through when the cache is away."""

from __future__ import annotations

import logging
import shutil
import time
from typing import Any

import pytest
import redis
from django.core.cache import cache
from django.test import override_settings

from lifecycle.core.api import throttling
from lifecycle.core.api.rates import parse_rate
from lifecycle.core.tokens.services import issue_token
from lifecycle.testing.api import Api
from lifecycle.testing.dashboard import signed_in
from lifecycle.testing.factories import ExecutionReportFactory
from lifecycle.testing.redis import own_redis

pytestmark = pytest.mark.django_db

RENDER_BODY = {"environment": "development", "variables": {"inquiry": "q"}}
UNLIMITED = {"anon": None, "user": None, "render": None, "ingestion": None}


def rates(**given: str) -> dict[str, tuple[int, int] | None]:
    return {**UNLIMITED, **{scope: parse_rate(rate) for scope, rate in given.items()}}


@pytest.fixture(autouse=True)
def fresh_counters(settings):
    # A cache of the test's own (never CI's Redis, whose other users a clear() would disturb).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "rates"}}
    cache.clear()
    throttling._CacheHealth.down_until, throttling._CacheHealth.down = 0.0, False
    yield
    cache.clear()
    throttling._CacheHealth.down_until, throttling._CacheHealth.down = 0.0, False


def with_key(key: str) -> Api:
    api = Api()
    api.client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def assert_throttled(response) -> None:
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


@override_settings(THROTTLE_RATES=rates(user="3/m"))
def test_throttle__token_over_its_rate__429_with_retry_after(reader, make_user):
    first = with_key(issue_token(owner=reader, name="one")[1])
    assert [first.get("/api/templates").status_code for _ in range(3)] == [200, 200, 200]
    assert_throttled(first.get("/api/templates"))
    # per token: the same user's other integration, and another user, have their own budgets
    assert with_key(issue_token(owner=reader, name="two")[1]).get("/api/templates").status_code == 200
    assert with_key(issue_token(owner=make_user(), name="x")[1]).get("/api/templates").status_code == 200


@override_settings(THROTTLE_RATES=rates(user="1/m", render="3/m"))
def test_throttle__render__its_own_rate_on_the_fast_path(reader, create_template):
    template = create_template()
    caller = with_key(issue_token(owner=reader, name="render")[1])
    path = f"/api/templates/{template.pk}/render"
    assert [caller.post(path, RENDER_BODY).status_code for _ in range(3)] == [200, 200, 200]
    assert_throttled(caller.post(path, RENDER_BODY))
    assert caller.get("/api/templates").status_code == 200  # other endpoints count against "user"


@override_settings(THROTTLE_RATES=rates(render="2/m"))
def test_throttle__render_handed_to_drf__counted_once(reader, create_template):
    template = create_template()
    caller = with_key(issue_token(owner=reader, name="render")[1])
    # a variable of the wrong type: the fast path counts it, then DRF's way answers the 400
    assert (
        caller.post(
            f"/api/templates/{template.pk}/render", {"environment": "development", "variables": {"inquiry": 5}}
        ).status_code
        == 400
    )
    assert caller.post(f"/api/templates/{template.pk}/render", RENDER_BODY).status_code == 200
    assert_throttled(caller.post(f"/api/templates/{template.pk}/render", RENDER_BODY))


@override_settings(THROTTLE_RATES=rates(user="1/m", ingestion="2/m"))
def test_throttle__ingestion__its_own_rate(integration, version):
    caller = with_key(issue_token(owner=integration, name="reporter")[1])
    report = ExecutionReportFactory(version=version)
    assert caller.post("/api/executions", report).status_code == 201
    assert (
        caller.post("/api/executions/batch", {"executions": [ExecutionReportFactory(version=version)]}).status_code
        == 201
    )
    assert_throttled(caller.post("/api/executions", ExecutionReportFactory(version=version)))
    assert caller.get("/api/templates").status_code == 200


@override_settings(THROTTLE_RATES=rates(user="2/m"))
def test_throttle__session_user__counted_per_user(reader):
    client = signed_in(reader)
    assert [client.get("/api/templates").status_code for _ in range(2)] == [200, 200]
    assert client.get("/api/templates").status_code == 429


@override_settings(THROTTLE_RATES=rates(anon="2/m"))
def test_throttle__anonymous__per_address_not_per_forwarded_header():
    # The schema is the API's one anonymous endpoint; asked for as JSON, its errors are JSON too.
    api = Api()
    schema = {"path": "/api/schema/", "HTTP_ACCEPT": "application/json"}
    assert [api.client.get(**schema).status_code for _ in range(2)] == [200, 200]
    # no proxy in front (NUM_PROXIES 0): a client's own X-Forwarded-For does not buy a new budget
    assert_throttled(api.client.get(**schema, HTTP_X_FORWARDED_FOR="203.0.113.9"))
    assert api.client.get(**schema, REMOTE_ADDR="198.51.100.7").status_code == 200


@override_settings(
    THROTTLE_RATES=rates(user="1/m", render="1/m"),
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # the discard port: nothing listens
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        }
    },
)
def test_throttle__cache_unreachable__requests_let_through_and_said_once(reader, create_template, caplog):
    template = create_template()
    caller = with_key(issue_token(owner=reader, name="render")[1])
    with caplog.at_level(logging.WARNING, logger="lifecycle.core.api.throttling"):
        statuses = [caller.get("/api/templates").status_code for _ in range(3)]
        statuses += [caller.post(f"/api/templates/{template.pk}/render", RENDER_BODY).status_code for _ in range(3)]
    assert statuses == [200] * 6
    assert len([record for record in caplog.records if "rate limits off" in record.message]) == 1


@override_settings(THROTTLE_RATES=rates(anon="2/m", user="1/m"))
def test_throttle__no_credentials__counted_per_address_then_429(api):
    assert [api.anonymous().get("/api/templates").status_code for _ in range(2)] == [401, 401]
    assert_throttled(api.get("/api/templates"))
    assert api.get("/api/templates", REMOTE_ADDR="198.51.100.7").status_code == 401  # another address


@override_settings(THROTTLE_RATES=rates(anon="2/m", render="100/m"))
def test_throttle__refused_keys__counted_per_address_so_guessing_is_limited(create_template):
    template = create_template()
    guesser = with_key("plt_not-a-key")
    render = f"/api/templates/{template.pk}/render"
    assert [guesser.post(render, RENDER_BODY).status_code for _ in range(2)] == [401, 401]
    assert_throttled(guesser.post(render, RENDER_BODY))
    assert_throttled(guesser.get("/api/templates"))


@override_settings(THROTTLE_RATES=rates(render="1/m"))
def test_throttle__render_over_its_rate__answered_with_one_query(reader, create_template, django_assert_num_queries):
    template = create_template()
    caller = with_key(issue_token(owner=reader, name="render")[1])
    path = f"/api/templates/{template.pk}/render"
    assert caller.post(path, RENDER_BODY).status_code == 200
    with django_assert_num_queries(1):  # the key's lookup; not a second one on DRF's way
        assert_throttled(caller.post(path, RENDER_BODY))


@pytest.mark.parametrize(
    ("text", "rate"),
    [("100/s", (100, 1)), ("1200/m", (1200, 60)), ("5/hour", (5, 3600)), ("7/d", (7, 86400)), ("off", None)],
)
def test_parse_rate__accepted_forms(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["100", "0/s", "-1/m", "ten/s", "5/week", "5/"])
def test_parse_rate__bad__refused(text):
    with pytest.raises(ValueError, match="is not a rate"):
        parse_rate(text)


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server (installed by .ci/run)")
def test_throttle__on_redis__one_round_trip_counts_expires_and_limits(tmp_path):
    # Given the counters in a Redis of the test's own, as in production
    with own_redis(tmp_path) as redis_server, override_settings(CACHES=redis_cache(redis_server.url)):
        limit = parse_rate("3/m")
        # When one caller is counted five times in a window
        waits = [throttling.count_request("user", "token:7", limit) for _ in range(5)]
        # Then the first three pass, the others wait for the window's end
        assert waits[:3] == [None, None, None]
        assert all(wait is not None and 0 < wait <= 60 for wait in waits[3:])
        # and the window's counter is Django's integer (cache.get reads it) with an expiry just over the window
        key = f"throttle:user:token:7:{int(time.time() // 60)}"
        assert cache.get(key) == 5
        client = redis.Redis.from_url(redis_server.url)
        assert 0 < client.ttl(cache.make_and_validate_key(key)) <= 61
        # and each count was one round trip (a pipeline of SET NX and INCRBY), not EXISTS then INCRBY
        commands = client.execute_command("INFO", "commandstats")
        assert "cmdstat_exists" not in commands
        assert commands["cmdstat_incrby"]["calls"] == 5


def redis_cache(url: str) -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        }
    }
