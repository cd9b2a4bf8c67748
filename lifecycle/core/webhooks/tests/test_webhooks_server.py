"""Webhooks from the real server: subscribed over the API, a lifecycle event over the API, and the signed
POST sent by the real Celery worker after the commit; a receiver that fails is retried by beat's sweep."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from standardwebhooks import Webhook

from lifecycle.testing.receiver import Receiver
from lifecycle.testing.server import Server

pytestmark = pytest.mark.server


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_webhook__an_event_over_the_api__signed_post_from_the_worker(server: Server):
    admin = server.manage("create_api_token", "webhook-admin", "--superuser").split()[-1]
    with Receiver().running() as receiver:
        receiver.statuses = [500]  # the first attempt fails: retried
        status, subscription, _ = server.call(
            "POST", "/api/webhooks", {"url": receiver.url, "events": ["version.created"]}, token=admin
        )
        assert status == 201, subscription
        body = {"name": f"Hooked {uuid.uuid4().hex[:8]}", "content": "{{q}}", "variables": [{"name": "q"}]}
        status, template, _ = server.call("POST", "/api/templates", body, token=server.tokens["author"])
        assert status == 201, template
        # The worker's first attempt at once; the retry 10 s later (beat sweeps every OUTBOX_SWEEP_SECONDS)
        assert wait_for(lambda: len(receiver.requests) >= 2, 40), receiver.requests
        first, retry = receiver.requests[:2]
        assert first.headers["webhook-id"] == retry.headers["webhook-id"]
        Webhook(subscription["secret"]).verify(retry.body, retry.headers)
        data = json.loads(retry.body)["data"]
        assert data["type"] == "version.created"
        assert data["templateId"] == template["id"]
        assert data["version"]["number"] == "1.0.0"

        # Every attempt is on record, newest first
        def attempts() -> list:
            return server.call("GET", f"/api/webhooks/{subscription['id']}/deliveries", token=admin)[1]["results"]

        assert wait_for(lambda: len(attempts()) >= 2 and attempts()[0]["statusCode"] == 200, 10)
        assert [attempt["number"] for attempt in attempts()[:2]] == [2, 1]
        assert attempts()[1]["statusCode"] == 500
