"""Concurrency at the real server on PostgreSQL: many simultaneous approvals, deploys, rollbacks, A/B starts
and duplicate executions from several web worker processes, then every invariant checked in the database:
one active deployment per template and environment, one running A/B test, no execution stored twice, each
approval stage decided once, and an audit record for every change."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lifecycle.testing.server import Server, running_server

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
        reason="row locks and constraints under real concurrency: CI's PostgreSQL pass",
    ),
]

STAGES = ("technical", "qa", "security", "business")

# Run in the server's own environment (manage.py shell): the invariants, read from the database.
INVARIANTS = """
import json
from django.db.models import Count
from abtesting.models import ABTest
from analytics.models import Execution
from approvals.models import ApprovalStage
from lifecycle.releases.models import Deployment

def twice(queryset, *fields):
    rows = queryset.values(*fields).annotate(n=Count("pk")).filter(n__gt=1).values_list(*fields, "n")
    return [[str(value) for value in row] for row in rows]

deployments = Deployment.objects.all()
decisions = ApprovalStage.history.exclude(state="waiting")
print(json.dumps({
    "active_twice": twice(deployments.filter(state="active"), "template_id", "environment"),
    "running_twice": twice(ABTest.objects.filter(state="running"), "template_id", "environment"),
    "executions_twice": twice(Execution.objects.exclude(request_id=None), "template_id", "request_id"),
    "stages_decided_twice": twice(decisions, "id"),
    "stages_decided": ApprovalStage.objects.exclude(state="waiting").count(),
    "deployments": deployments.count(),
    "deployments_without_history": deployments.exclude(pk__in=Deployment.history.values("id")).count(),
    "deployment_states_not_in_history": sum(
        1 for d in deployments if not Deployment.history.filter(id=d.pk, state=d.state).exists()
    ),
    "running_tests": list(ABTest.objects.filter(state="running").values_list("name", flat=True)),
}))
"""


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Each call in its own thread, all released together; their results in order."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[index] = calls[index]()
        except Exception as error:  # reported in the results, asserted by the test
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def new_version(server: Server, template_id: str, content: str) -> str:
    body = {"templateId": template_id, "data": {"content": content}}
    status, version, _ = server.call("POST", "/api/versions/create", body, token=server.tokens["author"])
    assert status == 201, version
    return version["id"]


def test_concurrency__everything_at_once__every_invariant_holds(tmp_path: Path):
    with running_server(tmp_path) as server:
        author, deployer = server.tokens["author"], server.tokens["deployer"]
        variables = [{"name": "q", "type": "string", "required": True}]
        status, template, _ = server.call(
            "POST",
            "/api/templates",
            {"name": f"Busy {uuid.uuid4().hex[:6]}", "content": "v1 {{q}}", "variables": variables},
            token=author,
        )
        assert status == 201, template
        template_id = template["id"]
        versions = [template["latestVersion"]["id"]] + [
            new_version(server, template_id, f"v{number} {{{{q}}}}") for number in (2, 3, 4)
        ]

        # Approvals: every stage of a request decided at once by its reviewer, each twice.
        submitted = {"versionId": versions[0], "environment": "production"}
        assert server.call("POST", "/api/approval/submit", submitted, token=author)[0] == 201

        def decide(index: int, role: str) -> Callable[[], int]:
            body = {**submitted, "data": {"stageIndex": index}}
            return lambda: server.call("POST", "/api/approval/approve", body, token=server.tokens[role])[0]

        statuses = at_once([decide(index, role) for index, role in enumerate(STAGES) for _ in range(2)])
        # 409: a stage out of order, or decided already; 403: the reviewer decided a stage already
        assert set(statuses) <= {200, 403, 409}, statuses
        # whatever order they came in, the stages still undecided are decided now, in order
        for index, role in enumerate(STAGES):
            decide(index, role)()
        for version_id in versions[1:]:
            server.approve(version_id)
        status, body, _ = server.call(
            "PUT", f"/api/versions/{versions[0]}/deploy", {"environment": "production"}, token=deployer
        )
        assert status == 200, body

        # Deploys, manual and emergency rollbacks of the same template and environment, all at once.
        def deploy(version_id: str) -> Callable[[], int]:
            return lambda: server.call(
                "PUT", f"/api/versions/{version_id}/deploy", {"environment": "production"}, token=deployer
            )[0]

        def roll_back(current: str, target: str) -> Callable[[], int]:
            body = {"currentVersionId": current, "targetVersionId": target, "reason": "concurrency drill"}
            return lambda: server.call("POST", "/api/rollback/initiate", body, token=deployer)[0]

        def emergency() -> int:
            body = {"templateId": template_id, "environment": "production", "reason": "concurrency drill"}
            return server.call("POST", "/api/rollback/emergency", body, token=deployer)[0]

        calls = [deploy(version_id) for version_id in versions[1:] for _ in range(3)]
        calls += [roll_back(versions[1], versions[0]), roll_back(versions[2], versions[1]), emergency, emergency]
        statuses = at_once(calls)
        assert set(statuses) <= {200, 201, 409, 404}, statuses
        assert 200 in statuses

        # A/B tests: five drafts of the template in production, all started at once.
        def draft(number: int) -> str:
            payload = {
                "name": f"Race {number}",
                "templateId": template_id,
                "environment": "production",
                "variants": [
                    {"id": "control", "name": "A", "templateVersionId": versions[0], "trafficPercentage": 50},
                    {"id": "b", "name": "B", "templateVersionId": versions[1], "trafficPercentage": 50},
                ],
            }
            status, test, _ = server.call("POST", "/api/abtests/create", payload, token=author)
            assert status == 201, test
            return test["id"]

        drafts = [draft(number) for number in range(5)]
        statuses = at_once(
            [
                (
                    lambda test_id=test_id: server.call(
                        "POST", "/api/abtests/start", {"testId": test_id}, token=deployer
                    )[0]
                )
                for test_id in drafts
            ]
        )
        assert sorted(statuses) == [200, 409, 409, 409, 409], statuses

        # The same execution reported 30 times at once (an integration's retries).
        report = {
            "templateVersionId": versions[0],
            "environment": "production",
            "status": "success",
            "responseTime": 90,
            "metadata": {"requestId": "retried-request"},
        }
        statuses = at_once(
            [lambda: server.call("POST", "/api/executions", report, token=server.tokens["author"])[0]] * 30
        )
        assert sorted(statuses) == [200] * 29 + [201], statuses

        found = json.loads(server.manage("shell", "-c", INVARIANTS).strip().splitlines()[-1])
        assert found["active_twice"] == []
        assert found["running_twice"] == []
        assert len(found["running_tests"]) == 1
        assert found["executions_twice"] == []
        assert found["deployments_without_history"] == 0
        assert found["deployment_states_not_in_history"] == 0
        assert found["stages_decided_twice"] == []  # each stage decided once, by one reviewer
        assert found["stages_decided"] == 4 * len(versions)  # every request approved through its four stages
        # The render path serves what the one active deployment says.
        status, served, _ = server.call(
            "POST",
            f"/api/templates/{template_id}/render",
            {"environment": "production", "variables": {"q": "x"}},
            token=server.tokens["reader"],
        )
        assert status == 200, served
