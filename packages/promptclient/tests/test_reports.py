"""What a report becomes before it is queued (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from promptclient.reports import prepared


def test_prepared__a_request_id_and_the_moment_added__values_as_json():
    ready, size = prepared({"templateVersionId": UUID(int=1), "status": "success", "responseTime": 3})
    assert ready["templateVersionId"] == "00000000-0000-0000-0000-000000000001"
    assert ready["metadata"]["requestId"].startswith("pc-")
    assert datetime.fromisoformat(ready["timestamp"]).tzinfo is not None
    assert size > 50


def test_prepared__given_request_id_and_timestamp__kept():
    moment = datetime(2026, 11, 30, 1, 2, 3, tzinfo=UTC)
    ready, _ = prepared({"timestamp": moment, "metadata": {"requestId": "req-1", "region": "eu"}})
    assert ready["timestamp"] == "2026-11-30T01:02:03+00:00"
    assert ready["metadata"] == {"requestId": "req-1", "region": "eu"}


def test_prepared__a_value_that_is_not_json__type_error():
    with pytest.raises(TypeError):
        prepared({"metadata": {"thing": object()}})
