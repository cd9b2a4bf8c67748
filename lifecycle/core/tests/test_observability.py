"""What operators rely on: /metrics (who may read it, requests counted per route), JSON logs whose request id
is the X-Request-ID header, and /api/health (database, broker, worker lag). The last test scrapes the real
server: gunicorn's workers summed, the Celery worker's own metrics, its log lines as JSON."""

from __future__ import annotations

import json
import logging.config
import socket
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from prometheus_client import REGISTRY

from lifecycle.core.observability.logs import logging_config
from lifecycle.testing.server import WORKERS, Server

RESPONSES = "django_http_responses_total_by_status_view_method_total"


def responses(view: str, status: str = "200", method: str = "GET") -> float:
    labels = {"view": view, "status": status, "method": method}
    return REGISTRY.get_sample_value(RESPONSES, labels) or 0.0


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed when the socket is: nothing listens there


# METRICS
@pytest.mark.django_db
def test_metrics__token_set__refused_without_it_served_with_it(settings):
    settings.METRICS_TOKEN = "scrape-secret"
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Token scrape-secret").status_code == 401
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
def test_metrics__production_without_a_token__not_served(settings):
    settings.PRODUCTION, settings.METRICS_TOKEN = True, ""
    assert Client().get("/metrics").status_code == 404


@pytest.mark.django_db
def test_metrics__no_token_outside_production__this_machine_only(settings):
    settings.METRICS_TOKEN = ""
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 404


@pytest.mark.django_db
def test_metrics__empty_database__scrape_answers_with_the_gauges():
    body = Client().get("/metrics").content.decode()
    assert "lifecycle_rollup_lag_seconds 0.0" in body
    assert 'lifecycle_celery_queue_length{queue="celery"} 0.0' in body
    assert "lifecycle_worker_heartbeat_age_seconds" not in body.replace("# HELP", "").replace("# TYPE", "")


@pytest.mark.django_db
def test_metrics__database_down__scrape_still_answers(monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionError("database down")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert "lifecycle_rollup_lag_seconds " not in response.content.decode()


@pytest.mark.django_db
def test_metrics__requests__counted_under_their_route_not_their_path(api, reader, create_template):
    # Given a template, and the counts as they are
    template = create_template(content="Hi {{q}}", variables=[{"name": "q"}])
    render = "/api/templates/<uuid:template_id>/render"
    before = responses(render, method="POST")
    # When it is rendered three times, once through the trailing-slash twin of the route
    for path in ("render", "render", "render/"):
        body = {"environment": "development", "variables": {"q": "x"}}
        assert api.as_user(reader).post(f"/api/templates/{template.pk}/{path}", body).status_code == 200
    # Then the three are counted under the route, and no series names the template's id
    assert responses(render, method="POST") - before == 3
    scraped = Client().get("/metrics").content.decode()
    assert f'view="{render}"' in scraped
    assert str(template.pk) not in scraped


@pytest.mark.django_db
def test_metrics__errors__counted_by_status_under_their_route(api, reader):
    missing = f"/api/templates/{uuid.uuid4()}"
    before = responses("/api/templates/<uuid:template_id>", status="404")
    unresolved = responses("<unresolved>", status="404")
    assert api.as_user(reader).get(missing).status_code == 404
    assert Client().get("/no/such/page").status_code == 404
    assert responses("/api/templates/<uuid:template_id>", status="404") - before == 1
    assert responses("<unresolved>", status="404") - unresolved == 1


# LOGS AND THE REQUEST ID
@contextmanager
def logging_as_json() -> Iterator[None]:
    """LOG_FORMAT=json, as in production, while the block runs (its handler writes to the stderr that capsys
    captures at that moment)."""
    logging.config.dictConfig(logging_config("json", "INFO"))
    try:
        yield
    finally:
        logging.config.dictConfig(settings.LOGGING)


def logged(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    """The JSON lines logged since the last call, parsed."""
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]


@pytest.mark.django_db
@override_settings(ACCESS_LOG="all")
def test_logs__request__one_json_access_line_with_the_request_id_of_the_header(capsys, api, reader):
    with logging_as_json():
        response = api.as_user(reader).get("/api/templates")
    access = [line for line in logged(capsys) if line.get("logger") == "lifecycle.access"]
    assert len(access) == 1
    [line] = access
    assert line["request_id"] == response["X-Request-ID"]
    assert line["route"] == "/api/templates"
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert line["user_id"] == reader.pk
    assert isinstance(line["duration_ms"], float)
    assert "timestamp" in line
    assert line["level"] == "info"


@pytest.mark.django_db
@override_settings(ACCESS_LOG="all")
def test_logs__token__never_logged(capsys, integration):
    from lifecycle.testing.api import api_key_for

    key = api_key_for(integration)
    with logging_as_json():
        Client().get("/api/templates", HTTP_AUTHORIZATION=f"Token {key}")
        Client().get("/api/templates", HTTP_AUTHORIZATION="Token not-a-real-token-123")
    output = capsys.readouterr().err
    assert output.count('"logger": "lifecycle.access"') == 2
    assert key not in output
    assert "not-a-real-token-123" not in output


@pytest.mark.django_db
def test_logs__access_log_errors_default__errors_and_slow_requests_only(capsys, api, reader, settings):
    assert settings.ACCESS_LOG == "errors"
    with logging_as_json():
        api.as_user(reader).get("/api/templates")  # fast and fine: no line
        missing = api.get("/api/templates/00000000-0000-0000-0000-000000000000")
        settings.ACCESS_LOG_SLOW_MS = 0  # every request is "slow" now
        api.get("/api/templates")
    access = [line for line in logged(capsys) if line.get("logger") == "lifecycle.access"]
    assert [(line["status"], line["route"]) for line in access] == [
        (404, "/api/templates/<uuid:template_id>"),
        (200, "/api/templates"),
    ]
    assert access[0]["request_id"] == missing["X-Request-ID"]


@pytest.mark.django_db
@override_settings(ACCESS_LOG="off")
def test_logs__access_log_off__no_line_even_for_errors(capsys, api):
    with logging_as_json():
        api.get("/api/templates")  # 401
    assert not [line for line in logged(capsys) if line.get("logger") == "lifecycle.access"]


@pytest.mark.django_db
def test_logs__library_lines__json_with_the_request_id_too(capsys):
    with logging_as_json():
        response = Client().get("/api/health", HTTP_X_REQUEST_ID="trace-42")
        logging.getLogger("some.library").warning("from %s", "a library")
    lines = logged(capsys)
    assert {"event": "from a library", "logger": "some.library", "level": "warning"}.items() <= lines[-1].items()
    assert lines[-1]["request_id"] == response["X-Request-ID"] == "trace-42"


@pytest.mark.django_db
def test_request_id__sane_incoming__honoured():
    for given in ("6f1c2b9e-8a71-4c3e-9d2a-0b7d5e4f1a23", "01J9ZQ3K8Y7T5V4W2X1R0P9N8M", "Root=1-5759e988-bd862e3fe"):
        assert Client().get("/api/health", HTTP_X_REQUEST_ID=given)["X-Request-ID"] == given


@pytest.mark.django_db
@pytest.mark.parametrize(
    "given",
    ["", "x" * 129, "abc def", "abc\x00def", "abc\ndef", 'abc"}', "été", "<script>"],
    ids=["empty", "too-long", "space", "nul", "newline", "quote", "non-ascii", "markup"],
)
def test_request_id__malicious_incoming__replaced_by_a_new_one(given):
    answered = Client().get("/api/health", HTTP_X_REQUEST_ID=given)["X-Request-ID"]
    assert answered != given
    assert len(answered) == 32
    assert int(answered, 16) >= 0


def test_request_id__each_request__its_own():
    assert Client().get("/no/such/page")["X-Request-ID"] != Client().get("/no/such/page")["X-Request-ID"]


# HEALTH
@pytest.mark.django_db
def test_health__all_up__ok_with_the_broker_and_the_worker_lag():
    from lifecycle.core.tasks import record_heartbeat

    body = Client().get("/api/health").json()
    assert body == {
        "status": "ok",
        "database": "ok",
        "broker": "ok",
        "worker": {"lastHeartbeatAt": None, "alive": False, "lagSeconds": None},
    }
    record_heartbeat.delay()  # eager in tests
    worker = Client().get("/api/health").json()["worker"]
    assert worker["alive"] is True
    assert 0 <= worker["lagSeconds"] < 5


@pytest.mark.django_db
def test_health__redis_broker_unreachable__degraded_but_200(settings):
    # Given REDIS_URL pointing at a port where nothing listens
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response = Client().get("/api/health")
    # Then the replica stays in the load balancer (render does not need the broker), and says what is down
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["broker"] == "unreachable"
    assert response.json()["database"] == "ok"


@pytest.mark.django_db
def test_health__embedded_broker_folder_gone__degraded_but_200(settings, tmp_path):
    settings.REDIS_URL = ""  # the embedded broker, also on CI's Redis pass
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        **getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}),
        "data_folder_out": str(tmp_path / "gone"),
    }
    body = Client().get("/api/health").json()
    assert (body["status"], body["broker"]) == ("degraded", "unreachable")


@pytest.mark.django_db
def test_health__database_unreachable__503(monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionError("database down")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = Client().get("/api/health")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}


# THE REAL SERVER
def _get(url: str, token: str | None = None) -> str:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def _sample(text: str, name: str, **labels: str) -> float:
    wanted = name + "{" + ",".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "}"
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.server
def test_server__metrics_summed_over_every_worker_process__worker_metrics_and_json_logs(server: Server):
    token = server.env["METRICS_TOKEN"]
    metrics = server.base + "/metrics"
    # /metrics is refused without its token
    assert server.call("GET", "/metrics")[0] == 401
    before = _sample(_get(metrics, token), RESPONSES, method="GET", status="200", view="/api/health")

    # When 60 health checks arrive from 6 connections at once (sync workers: each busy worker leaves the next
    # connection to another, so several of the WORKERS processes serve them)
    def check(times: int) -> None:
        for _ in range(times):
            assert server.call("GET", "/api/health")[0] == 200

    threads = [threading.Thread(target=check, args=(10,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then any one scrape counts all 60, whichever worker process answers it
    assert WORKERS > 1
    for _ in range(3):
        after = _sample(_get(metrics, token), RESPONSES, method="GET", status="200", view="/api/health")
        assert after - before == 60

    # The Celery worker's own counters (its pool process counts, its main process serves): beat's heartbeats
    worker_metrics = f"http://127.0.0.1:{server.env['WORKER_METRICS_PORT']}/metrics"
    assert _sample(
        _get(worker_metrics), "lifecycle_celery_tasks_total", outcome="success", task="core.record_heartbeat"
    )

    # Every line the worker logged is one JSON object, and those of a task name it (emails printed by the
    # console email backend are not log lines: they are the embedded run's way of sending email)
    assert server.log is not None
    worker_lines = [
        line.split("|", 1)[1].strip()
        for line in server.log.read_text().splitlines()
        if line[9:].startswith("worker.1 ")
    ]
    logged = []
    in_email = False
    for line in worker_lines:
        if line.startswith("Content-Type: text/plain"):
            in_email = True
        if not in_email and line:
            logged.append(json.loads(line))
        if line == "-" * 79:
            in_email = False
    assert any(entry.get("task_name") == "core.record_heartbeat" and entry.get("task_id") for entry in logged)
    assert all({"event", "level", "logger", "timestamp"} <= entry.keys() for entry in logged)
