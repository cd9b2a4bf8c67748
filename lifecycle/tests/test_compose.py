"""docker-compose.yml: the production topology operators start, checked as Compose reads it, and its own
commands run without containers on PostgreSQL and Redis (CI's second pass), so that it cannot drift from
what works."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from lifecycle.testing.compose import (
    COMPOSE_FILE,
    MissingVariable,
    command_line,
    environment_of,
    healthcheck_line,
    interpolate,
    load_compose,
)
from lifecycle.testing.server import ROOT, VENV_BIN, Server, free_port, fresh_database

REQUIRED = {
    "POSTGRES_PASSWORD": "db-password",
    "DJANGO_SECRET_KEY": "a-long-random-secret-from-the-environment",
    "DATA_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
}
APP_SERVICES = ("migrate", "web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose(REQUIRED)


def test_compose__services__database_broker_web_worker_beat_and_one_migration(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker", "beat"}
    assert "migrate" in command_line(services["migrate"])
    for name in ("web", "worker", "beat"):
        assert "migrate" not in command_line(services[name])  # replicas never migrate
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["migrate"]["restart"] == "no"
    # one image for every application process
    assert {services[name]["image"] for name in APP_SERVICES} == {"prompt-lifecycle:latest"}


def test_compose__health_checks_and_the_database_volume(compose):
    services = compose["services"]
    for name in ("postgres", "redis", "web", "worker"):
        assert healthcheck_line(services[name]), name
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "postgres-data" in compose["volumes"]
    assert "/api/health" in healthcheck_line(services["web"])


def test_compose__configuration__from_the_environment_production_profile_on(compose):
    for name in APP_SERVICES:
        environment = environment_of(compose["services"][name])
        assert environment["DJANGO_SECRET_KEY"] == REQUIRED["DJANGO_SECRET_KEY"]
        assert environment["DJANGO_PRODUCTION"] == "true"
        assert environment["DATA_ENCRYPTION_KEYS"] == REQUIRED["DATA_ENCRYPTION_KEYS"]
        assert environment["DATABASE_URL"].startswith("postgres://lifecycle:db-password@postgres:5432/")
        assert environment["REDIS_URL"].startswith("redis://redis:6379/")
    web = environment_of(compose["services"]["web"])
    assert (web["HOST"], web["PORT"], int(web["WEB_CONCURRENCY"]) > 1) == ("0.0.0.0", "8000", True)


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_compose__secret_not_set__refused_as_compose_would(missing):
    env = {name: value for name, value in REQUIRED.items() if name != missing}
    with pytest.raises(MissingVariable, match=missing):
        load_compose(env)


def test_compose__no_secret_in_the_file():
    text = COMPOSE_FILE.read_text()
    assert "DJANGO_SECRET_KEY: ${DJANGO_SECRET_KEY:?" in text
    assert "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?" in text
    assert "DATA_ENCRYPTION_KEYS: ${DATA_ENCRYPTION_KEYS:?" in text


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A:+alt}", {"A": "x"}, "alt"),
        ("$$HOSTNAME", {}, "$HOSTNAME"),
        ("pre-$A-post", {"A": "x"}, "pre-x-post"),
    ],
)
def test_interpolate__compose_rules(text, env, expected):
    assert interpolate(text, env) == expected


def _compose_engine() -> bool:
    docker = shutil.which("docker")
    return bool(docker) and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _compose_engine(), reason="no Compose engine here: the file is checked by the parse above")
def test_compose__docker_compose_config__valid():
    done = subprocess.run(
        ["docker", "compose", "--file", str(COMPOSE_FILE), "config", "--quiet"],
        env={**os.environ, **REQUIRED},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def run_shell(line: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", line], cwd=ROOT, env=env, capture_output=True, text=True)


def _postgres_and_redis() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")) and bool(
        os.environ.get("REDIS_URL")
    )


@pytest.mark.server
@pytest.mark.skipif(not _postgres_and_redis(), reason="CI's PostgreSQL + Redis pass runs the topology")
def test_compose__its_commands_without_containers__serve_the_api_in_production_profile(tmp_path: Path, compose):
    """What `docker compose up` starts, started here: the migrate service's command once, then web, worker
    and beat from their own commands and environment, with only the addresses swapped for this machine's."""
    services = compose["services"]
    database_url, drop_database = fresh_database(tmp_path)
    port = free_port()
    env = {
        **os.environ,
        **environment_of(services["web"]),
        **environment_of(services["worker"]),
        # this machine's PostgreSQL and Redis instead of the containers' names
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ["REDIS_URL"],
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "LIFECYCLE_DATA_DIR": str(tmp_path / "var"),
        "HEARTBEAT_SECONDS": "1",
        "HOSTNAME": socket.gethostname(),  # what Docker sets in a container; the worker's health check uses it
        "METRICS_TOKEN": "scraper-secret",
        # A real deployment's name: the health check must not rely on 127.0.0.1 being allowed.
        "DJANGO_ALLOWED_HOSTS": "prompts.example.com",
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
    }
    procfile = tmp_path / "Procfile"
    procfile.write_text("".join(f"{name}: {command_line(services[name])}\n" for name in ("web", "worker", "beat")))
    server = Server(
        base=f"http://127.0.0.1:{port}",
        env=env,
        tokens={},
        procfile=procfile,
        log=tmp_path / "log",
        host="prompts.example.com",
    )
    try:
        migrate = subprocess.run(
            ["sh", "-c", command_line(services["migrate"])], cwd=ROOT, env=env, capture_output=True
        )
        assert migrate.returncode == 0, migrate.stderr.decode()[-3000:]
        server.start()
        # the health checks, as Compose runs them
        for name in ("web", "worker"):
            deadline = time.monotonic() + 60
            while (check := run_shell(healthcheck_line(services[name]) or "false", env)).returncode:
                assert time.monotonic() < deadline, f"{name}'s health check failed: {check.stdout}{check.stderr}"
                time.sleep(1)
        # the production profile: plain HTTP redirected to HTTPS, but the health check
        assert server.call("GET", "/api/health")[0] == 200
        plain = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        plain.request("GET", "/api/templates", headers={"Host": "prompts.example.com"})
        redirect = plain.getresponse()
        assert (redirect.status, redirect.getheader("Location")) == (301, "https://prompts.example.com/api/templates")
        https = {"X-Forwarded-Proto": "https"}
        token = server.manage("create_api_token", "operator", "--groups", "author,integration").split()[-1]
        status, template, _ = server.call(
            "POST",
            "/api/templates",
            {
                "name": "Topology",
                "content": "Hi {{name}}",
                "variables": [{"name": "name", "type": "string", "required": True}],
            },
            token=token,
            headers=https,
        )
        assert status == 201, template
        body = {"environment": "development", "variables": {"name": "ops"}}
        status, rendered, _ = server.call(
            "POST", f"/api/templates/{template['id']}/render", body, token=token, headers=https
        )
        assert (status, rendered["rendered"]) == (200, "Hi ops")
        version_id = template["latestVersion"]["id"]
        report = {
            "templateVersionId": version_id,
            "environment": "development",
            "status": "success",
            "responseTime": 120,
        }
        status, stored, _ = server.call("POST", "/api/executions", report, token=token, headers=https)
        assert status == 201, stored
        status, metrics, _ = server.call(
            "GET", f"/api/performance/metrics?versionId={version_id}", token=token, headers=https
        )
        assert (status, metrics["totalExecutions"]) == (200, 1)
        # the worker takes its tasks from beat through Redis: its heartbeat shows in the health check
        deadline = time.monotonic() + 30
        while not (health := server.call("GET", "/api/health")[1])["worker"]["alive"]:
            assert time.monotonic() < deadline, health
            time.sleep(0.5)
        assert (health["status"], health["database"], health["broker"]) == ("ok", "ok", "ok")
        # Prometheus scrapes every web worker's figures with the token, JSON logs for the log shipper
        scrape = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        scrape.request(
            "GET", "/metrics", headers={"Authorization": "Bearer scraper-secret", "Host": "prompts.example.com"}
        )
        metrics = scrape.getresponse()
        assert metrics.status == 200
        assert "lifecycle_executions_ingested_total" in metrics.read().decode()
        missing = server.call("GET", f"/api/templates/{uuid.uuid4()}", token=token, headers=https)
        assert missing[0] == 404
        server.stop()
        access = [line for line in server.log.read_text().splitlines() if '"logger": "lifecycle.access"' in line]
        logged = [json.loads(line[line.index("{") :]) for line in access]
        # an error answer's line (ACCESS_LOG's default: errors and slow requests), with its request id
        assert missing[2]["X-Request-ID"] in [line["request_id"] for line in logged if line["status"] == 404]
    finally:
        server.stop()
        drop_database()
