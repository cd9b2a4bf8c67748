"""The client while its server is away: the real server, stopped in the middle of a run and started again
on the same database (a server of this module's own, so the other tests keep theirs)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from promptclient import PromptClient, TemplateUnavailable

from lifecycle.testing.server import Server, free_port, running_server

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("outage")) as started:
        yield started


@pytest.fixture
def live_template(own_server: Server) -> dict[str, Any]:
    """A template of the author's, 1.0.0 in production."""
    body = {"name": f"Outage {uuid.uuid4().hex[:8]}", "content": "Hello {{q}}", "variables": [{"name": "q"}]}
    status, template, _ = own_server.call("POST", "/api/templates", body, token=own_server.tokens["author"])
    assert status == 201, template
    own_server.release(template["latestVersion"]["id"])
    return template


def executions_of(server: Server, version_id: str) -> int:
    status, metrics, _ = server.call(
        "GET", f"/api/performance/metrics?versionId={version_id}", token=server.tokens["author"]
    )
    assert status == 200, metrics
    return metrics["totalExecutions"]


def report_some(client: PromptClient, answer: dict[str, Any], count: int, tag: str) -> None:
    for number in range(count):
        client.report(answer, status="success", responseTime=100 + number, metadata={"note": f"{tag}-{number}"})


def test_server_stopped_mid_run__serves_and_queues_then_delivers_every_report_once(
    own_server: Server, live_template: dict[str, Any], caplog: pytest.LogCaptureFixture
):
    version = live_template["latestVersion"]["id"]
    client = PromptClient(
        own_server.base, own_server.tokens["author"], refresh_interval=0.3, report_interval=0.2, timeout=1.0
    )
    try:
        before = client.render(live_template["id"], {"q": "you"})
        report_some(client, before, 30, "before")
        assert client.flush(10)
        # The server goes away in the middle of the run
        own_server.stop()
        with caplog.at_level(logging.WARNING, logger="promptclient"):
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:  # renders go on, from memory, answering as before
                assert client.render(live_template["id"], {"q": "you"}) == before
                time.sleep(0.05)
            report_some(client, before, 50, "during")
            assert not client.flush(1.0)  # nowhere to send them: they wait
        assert client.stats["reportsPending"] == 50
        refresh_warnings = [r for r in caplog.records if "cannot refresh" in r.getMessage()]
        assert len(refresh_warnings) == 1  # logged once, not on every retry
        # It comes back: what waited is delivered, and nothing was stored twice
        own_server.start()
        assert client.flush(30)
        assert executions_of(own_server, version) == 80
        assert client.stats["reportsDropped"] == 0
    finally:
        if own_server._process is None:
            own_server.start()
        client.close()


def test_on_disk_cache__a_process_started_while_the_server_is_down_serves_at_once(
    own_server: Server, live_template: dict[str, Any], tmp_path: Path
):
    # Given a process that rendered the template with an on-disk cache, then ended
    with PromptClient(own_server.base, own_server.tokens["reader"], cache_dir=tmp_path) as first:
        answer = first.render(live_template["id"], {"q": "there"})
    assert list(tmp_path.glob("promptclient-*.json"))
    own_server.stop()
    try:
        # When a new process starts while the server is down
        with PromptClient(own_server.base, own_server.tokens["reader"], cache_dir=tmp_path, timeout=0.5) as second:
            # Then it serves from the cache, by id and by name, before the server answers
            assert second.render(live_template["id"], {"q": "there"}) == answer
            assert second.render(live_template["name"], {"q": "there"}) == answer
            # and a template it never had is a clear error, or the fallback
            with pytest.raises(TemplateUnavailable, match="could not be reached"):
                second.render("Never fetched", {"q": "x"})
            assert second.render("Never fetched", {"q": "x"}, fallback="Hi {{q}}")["rendered"] == "Hi x"
    finally:
        own_server.start()


def test_reports__buffer_full_while_the_server_is_away__the_oldest_dropped_and_counted():
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = PromptClient(closed, "token", max_buffered_reports=10, report_interval=60, timeout=0.2)
    try:
        for number in range(25):
            client.report(templateVersionId=str(uuid.uuid4()), status="success", responseTime=number)
        assert client.stats["reportsPending"] == 10
        assert client.stats["reportsDropped"] == 15
    finally:
        client.close(timeout=0.5)
