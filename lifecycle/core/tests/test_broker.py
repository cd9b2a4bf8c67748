"""The embedded broker's task queues are declared once before the processes start (lifecycle.core.broker)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifecycle.celery import app
from lifecycle.core.broker import declare_task_queues


@pytest.fixture
def filesystem_broker(tmp_path: Path) -> Iterator[Path]:
    """The app on kombu's filesystem transport in a fresh folder, as `make run` on a new machine."""
    control = tmp_path / "control"
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path), "control_folder": str(control)}
    before = {name: app.conf.get(name) for name in ("broker_url", "broker_transport_options")}
    app.conf.update(broker_url="filesystem://", broker_transport_options=options)
    yield control
    app.conf.update(before)


def test_declare_task_queues__fresh_folder__each_binding_written_whole(filesystem_broker: Path) -> None:
    # Given a fresh broker folder; when the queues are declared (the seed does, before honcho starts)
    declare_task_queues()
    # Then each task queue's binding is in its exchange's file, as valid JSON, before any process reads it
    for queue in app.amqp.queues.values():
        table = json.loads((filesystem_broker / f"{queue.exchange.name}.exchange").read_text())
        assert [queue.routing_key, "", queue.name] in table
    # And declaring again (every start) leaves one binding each
    declare_task_queues()
    for queue in app.amqp.queues.values():
        table = json.loads((filesystem_broker / f"{queue.exchange.name}.exchange").read_text())
        assert table.count([queue.routing_key, "", queue.name]) == 1
