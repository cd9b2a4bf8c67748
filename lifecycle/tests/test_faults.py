"""Faults, on the real stack: Redis stopped and started again, a web worker killed in the middle of a batch,
the Celery worker killed in the middle of roll-ups and of rule evaluations. Real processes, real kills
(SIGKILL): what an operator's bad day looks like, and what must hold through it."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from lifecycle.testing.receiver import Receiver
from lifecycle.testing.redis import own_redis
from lifecycle.testing.server import Server, running_server

pytestmark = pytest.mark.server

BATCH = 1000  # the API's largest batch


def wait_for(condition: Callable[[], Any], timeout: float, what: str, explain: Callable[[], str] = lambda: "") -> Any:
    """condition()'s first true answer within `timeout` seconds; else fail, saying what was awaited (and
    what `explain` finds: a failure on CI is read from its output alone)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out waiting for {what}\n{explain()}")
        time.sleep(0.2)


def last_lines(server: Server, count: int = 60) -> str:
    """The end of the server's log (every process's), for a failure's message."""
    assert server.log is not None
    return "\n".join(server.log.read_text(errors="replace").splitlines()[-count:])


def new_template(server: Server) -> tuple[str, str]:
    """A template (active in development at once): its id and its version's id."""
    body = {
        "name": f"Faulty {uuid.uuid4().hex[:8]}",
        "content": "Answer {{q}}",
        "variables": [{"name": "q", "type": "string", "required": True}],
    }
    status, template, _ = server.call("POST", "/api/templates", body, token=server.tokens["author"])
    assert status == 201, template
    return template["id"], template["latestVersion"]["id"]


def batch_of(version_id: str, size: int, prefix: str) -> dict[str, Any]:
    return {
        "executions": [
            {
                "templateVersionId": version_id,
                "environment": "development",
                "status": "success",
                "responseTime": 100 + index % 50,
                "metadata": {"requestId": f"{prefix}-{index}"},
            }
            for index in range(size)
        ]
    }


def total_executions(server: Server, version_id: str) -> int:
    status, metrics, _ = server.call(
        "GET", f"/api/performance/metrics?versionId={version_id}", token=server.tokens["author"]
    )
    assert status == 200, metrics
    return metrics["totalExecutions"]


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server (installed by .ci/run)")
def test_faults__redis_down__render_resolve_ingest_serve_then_webhooks_and_rules_resume(tmp_path: Path):
    with (
        own_redis(tmp_path) as redis_server,
        running_server(
            tmp_path / "stack",
            env={"REDIS_URL": redis_server.url, "OUTBOX_SWEEP_SECONDS": "1", "ROLLBACK_EVALUATION_SECONDS": "1"},
        ) as server,
        Receiver().running() as receiver,
    ):
        admin = server.manage("create_api_token", "fault-admin", "--superuser").split()[-1]
        template_id, version_id = new_template(server)
        subscription = {"url": receiver.url, "events": ["version.created"], "templateId": template_id}
        assert server.call("POST", "/api/webhooks", subscription, token=admin)[0] == 201
        rule = {
            "templateId": template_id,
            "environment": "development",
            "metric": "error_rate",
            "operator": "gt",
            "threshold": 0.5,
            "action": "alert",
        }
        status, rule, _ = server.call("POST", "/api/rollback/triggers", rule, token=server.tokens["deployer"])
        assert status == 201, rule

        def last_evaluated() -> str | None:
            state = server.call("GET", f"/api/rollback/triggers/{rule['id']}", token=admin)[1]["state"]
            return state["lastEvaluatedAt"] if state else None

        wait_for(last_evaluated, 30, "the rule's first evaluation", lambda: last_lines(server))

        redis_server.kill()
        render = {"environment": "development", "variables": {"q": "still here?"}}
        token = server.tokens["author"]
        for _ in range(10):
            status, body, _ = server.call("POST", f"/api/templates/{template_id}/render", render, token=token)
            assert (status, body["rendered"]) == (200, "Answer still here?")
        assert (
            server.call("GET", f"/api/templates/{template_id}/resolve?environment=development", token=token)[0] == 200
        )
        status, stored, _ = server.call("POST", "/api/executions/batch", batch_of(version_id, 50, "down"), token=token)
        assert (status, stored["created"]) == (201, 50)
        assert total_executions(server, version_id) == 50
        status, health, _ = server.call("GET", "/api/health")
        assert (status, health["status"], health["broker"]) == (200, "degraded", "unreachable")
        # A lifecycle event while the broker is away: committed at once, its webhook waits in the outbox.
        created = {"templateId": template_id, "data": {"content": "Answer {{q}} kindly"}}
        status, version, _ = server.call("POST", "/api/versions/create", created, token=token)
        assert status == 201, version
        time.sleep(3)
        assert receiver.requests == []
        evaluated_while_down = last_evaluated()

        redis_server.start()
        wait_for(lambda: receiver.requests, 60, "the webhook after Redis came back", lambda: last_lines(server))
        wait_for(
            lambda: last_evaluated() != evaluated_while_down,
            60,
            "rule evaluations to resume",
            lambda: last_lines(server),
        )
        time.sleep(3)  # and nothing more: no second copy of the delivery
        assert len(receiver.requests) == 1
        assert server.call("GET", "/api/health")[1]["broker"] == "ok"


def _worker_pids(master: int) -> list[int]:
    """gunicorn's worker processes: the master's children."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            state, parent = stat.rsplit(")", 1)[1].split()[:2]
            if int(parent) == master and state != "Z":  # a killed worker not yet reaped is no worker
                children.append(int(entry))
    return children


def test_faults__web_worker_killed_mid_batch__whole_batch_or_none(tmp_path: Path):
    with running_server(tmp_path, separately=True, env={"WEB_CONCURRENCY": "1"}) as server:
        token = server.tokens["author"]
        # How long a batch takes here, to kill the next ones inside their request.
        _, version_id = new_template(server)
        started = time.monotonic()
        assert (
            server.call("POST", "/api/executions/batch", batch_of(version_id, BATCH, "timing"), token=token)[0] == 201
        )
        duration = time.monotonic() - started
        interrupted = 0
        for fraction in (0.2, 0.4, 0.6, 0.8):
            _, version_id = new_template(server)
            master = server.pid_of("web")
            (worker,) = wait_for(lambda: _worker_pids(master), 30, "a web worker")  # noqa: B023
            answer: list[Any] = []
            sending = threading.Thread(
                target=lambda: answer.append(  # noqa: B023
                    _post_or_error(server, batch_of(version_id, BATCH, f"kill-{fraction}"), token)  # noqa: B023
                )
            )
            sending.start()
            time.sleep(duration * fraction)
            os.kill(worker, signal.SIGKILL)
            sending.join(30)
            stored = total_executions(server, version_id)
            assert stored in (0, BATCH), f"killed at {fraction:.0%}: {stored} of {BATCH} stored"
            if answer[0] == 201:
                assert stored == BATCH
            else:
                interrupted += 1
        assert interrupted, "no kill landed inside a request: the test proved nothing"


def _post_or_error(server: Server, body: dict[str, Any], token: str) -> int | str:
    try:
        return server.call("POST", "/api/executions/batch", body, token=token)[0]
    except OSError as error:  # the connection the killed worker held
        return type(error).__name__


def pending(server: Server) -> float:
    """Executions stored but not yet in the rollups (the metrics endpoint's gauge)."""
    status, text = _scrape(server)
    assert status == 200
    for line in text.splitlines():
        if line.startswith("lifecycle_rollup_pending_executions "):
            return float(line.split()[1])
    raise AssertionError("no pending gauge")


def _scrape(server: Server) -> tuple[int, str]:
    import urllib.request

    request = urllib.request.Request(
        server.base + "/metrics", headers={"Authorization": f"Bearer {server.env['METRICS_TOKEN']}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()


def pending_now(server: Server) -> int:
    """The executions waiting for the roll-ups, read straight from the server's database (a millisecond,
    where a scrape takes tens): fast enough to catch the worker between two passes."""
    url = server.env["DATABASE_URL"]
    query = "SELECT COALESCE(SUM(executions), 0) FROM analytics_pendingbatch"
    if url.startswith("sqlite:///"):
        import sqlite3

        with closing(sqlite3.connect(url.removeprefix("sqlite:///"), timeout=5)) as connection:
            return int(connection.execute(query).fetchone()[0])
    import psycopg

    with psycopg.connect(url) as connection:
        return int(connection.execute(query).fetchone()[0])


def test_faults__celery_worker_killed_mid_rollup__nothing_counted_twice_or_skipped(tmp_path: Path):
    # Many small batches and passes of one batch each, so that the roll-ups take seconds and a kill lands
    # between two passes or inside one.
    rollups = {"ANALYTICS_ROLLUP_SECONDS": "1", "ANALYTICS_ROLLUP_PASS_EXECUTIONS": "100"}
    with running_server(tmp_path, separately=True, env=rollups) as server:
        token = server.tokens["author"]
        server.kill("worker")  # executions pile up while no worker rolls them up
        versions = [new_template(server)[1] for _ in range(3)]
        sent = dict.fromkeys(versions, 0)
        for round_number in range(60):  # 18,000 executions in 180 batches: 180 roll-up passes
            for version_id in versions:
                body = batch_of(version_id, 100, f"r{round_number}")
                assert server.call("POST", "/api/executions/batch", body, token=token)[0] == 201
                sent[version_id] += 100
        assert pending(server) == pending_now(server) == sum(sent.values())
        # Start the worker and kill it as soon as a pass has committed (the next one is under way), three
        # times, then let it finish.
        for _ in range(3):
            before = pending_now(server)
            server.start_process("worker")
            deadline = time.monotonic() + 60
            while pending_now(server) == before:
                assert time.monotonic() < deadline, "no roll-up pass"
                time.sleep(0.005)
            server.kill("worker")
            assert pending_now(server) > 0, "the roll-ups finished before the kill: the test proved nothing"
        server.start_process("worker")
        wait_for(lambda: pending(server) == 0, 120, "the roll-ups to finish", lambda: last_lines(server))
        # Every execution counted once: the totals now come from the rollups alone.
        assert {version_id: total_executions(server, version_id) for version_id in versions} == sent


def test_faults__celery_worker_killed_while_rules_evaluate__one_rollback_one_alert(tmp_path: Path):
    with running_server(tmp_path, separately=True, env={"ROLLBACK_EVALUATION_SECONDS": "1"}) as server:
        token, deployer = server.tokens["author"], server.tokens["deployer"]
        template_id, good_version = new_template(server)
        body = {"templateId": template_id, "data": {"content": "Answer {{q}} now"}}
        status, bad, _ = server.call("POST", "/api/versions/create", body, token=token)
        assert status == 201, bad
        failing = batch_of(bad["id"], 40, "bad")
        for row in failing["executions"]:
            row["status"] = "error"
        assert server.call("POST", "/api/executions/batch", failing, token=token)[0] == 201
        rule = {
            "templateId": template_id,
            "environment": "development",
            "metric": "error_rate",
            "operator": "gt",
            "threshold": 50,
            "minExecutions": 10,
            "consecutiveBreaches": 3,
            "action": "rollback",
        }
        status, rule, _ = server.call("POST", "/api/rollback/triggers", rule, token=deployer)
        assert status == 201, rule

        def last_evaluated() -> str | None:
            state = server.call("GET", f"/api/rollback/triggers/{rule['id']}", token=deployer)[1]["state"]
            return state["lastEvaluatedAt"] if state else None

        def rollbacks() -> list[dict[str, Any]]:
            history = server.call("GET", f"/api/rollback/history?templateId={template_id}", token=token)[1]
            return history["results"] if isinstance(history, dict) else history

        # The worker is killed as soon as it has evaluated the rule again (it evaluates every second), three
        # times; the third breach fires the rollback, so a kill lands around it. Then it is left to run.
        # (Once the rollback is done, the good version has no executions: the rule has nothing to record.)
        def explain() -> str:
            state = server.call("GET", f"/api/rollback/triggers/{rule['id']}", token=deployer)[1]["state"]
            return f"the rule's state: {state}\nthe server's log:\n{last_lines(server)}"

        for _ in range(3):
            seen = last_evaluated()
            wait_for(lambda seen=seen: last_evaluated() != seen or rollbacks(), 60, "an evaluation", explain)
            server.kill("worker")
            server.start_process("worker")

        wait_for(rollbacks, 60, "the automatic rollback", explain)
        time.sleep(4)  # more ticks: the rule stays quiet (the bad version is no longer served)
        assert len(rollbacks()) == 1
        render = {"environment": "development", "variables": {"q": "x"}}
        status, served, _ = server.call("POST", f"/api/templates/{template_id}/render", render, token=token)
        assert (status, served["versionId"]) == (200, good_version)
        # The alert that came with it: one, with the breaches that fired it as its evidence.
        alerts = server.call("GET", f"/api/alerts?templateId={template_id}", token=deployer)[1]
        alerts = alerts["results"] if isinstance(alerts, dict) else alerts
        assert len(alerts) == 1, alerts
