"""End to end: the real server started as `make run` starts it (gunicorn with several worker processes, a
Celery worker and beat), driven over HTTP the way integrations and users drive it.

Render must never serve a stale version once the change that affects it has returned, and a revoked
token must stop working at once, in every worker process, not only the one that made the change.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest
from standardwebhooks import Webhook

from lifecycle.testing.receiver import Receiver
from lifecycle.testing.server import WORKERS, Server

pytestmark = pytest.mark.server


def _render_versions(server: Server, template_id: str, times: int) -> set[str]:
    """The versions that `times` separate connections were served (each may reach any worker process)."""
    seen = set()
    for _ in range(times):
        status, body, _ = server.call(
            "POST",
            f"/api/templates/{template_id}/render",
            {"environment": "development", "variables": {"q": "x"}},
            token=server.tokens["reader"],
        )
        assert status == 200, body
        seen.add(body["version"])
    return seen


def test_server__changes_are_served_by_every_worker_the_moment_they_return(server: Server):
    author = server.tokens["author"]
    status, template, _ = server.call(
        "POST",
        "/api/templates",
        {
            "name": "E2E",
            "content": "One {{q}}",
            "variables": [{"name": "q"}],
            "category": "other",
        },
        token=author,
    )
    assert status == 201, template
    # Every worker renders (and so caches) version 1.0.0
    assert _render_versions(server, template["id"], 6 * WORKERS) == {"1.0.0"}

    # A new version: from the moment the request returns, every worker serves it
    status, v2, _ = server.call(
        "POST", "/api/versions/create", {"templateId": template["id"], "data": {"content": "Two {{q}}"}}, token=author
    )
    assert status == 201, v2
    assert _render_versions(server, template["id"], 6 * WORKERS) == {"1.0.1"}

    # Deploying 1.0.0 back: every worker serves 1.0.0 at once
    status, deployment, _ = server.call(
        "PUT", f"/api/versions/{template['latestVersion']['id']}/deploy", {"environment": "development"}, token=author
    )
    assert status == 200, deployment
    assert _render_versions(server, template["id"], 6 * WORKERS) == {"1.0.0"}


def test_server__revoked_token_is_refused_by_every_worker_at_once(server: Server):
    token = server.manage("create_api_token", "temporary").split()[-1]
    for _ in range(2 * WORKERS):
        assert server.call("GET", "/api/templates", token=token)[0] == 200
    revoke = (
        "from django.utils import timezone; from lifecycle.core.tokens.models import ApiToken; "
        "ApiToken.objects.filter(user__username='temporary').update(revoked_at=timezone.now())"
    )
    server.manage("shell", "-c", revoke)
    statuses = {server.call("GET", "/api/templates", token=token)[0] for _ in range(4 * WORKERS)}
    assert statuses == {401}


def test_server__resolve_revalidates_with_etag(server: Server):
    author = server.tokens["author"]
    _, template, _ = server.call("POST", "/api/templates", {"name": "Cached", "content": "Hi"}, token=author)
    path = f"/api/templates/{template['id']}/resolve?environment=development"
    status, body, headers = server.call("GET", path, token=author)
    assert status == 200
    assert body["content"] == "Hi"
    status, _, _ = server.call("GET", path, token=author, headers={"If-None-Match": headers["ETag"]})
    assert status == 304


def test_server__bad_input_is_a_json_4xx(server: Server):
    token = server.tokens["author"]
    status, body, _ = server.call("POST", "/api/templates", raw=b"\xff\xfe", token=token)
    assert (status, body["error"]["code"]) == (400, "malformed_request")
    status, body, _ = server.call("POST", "/api/templates", raw=b"[]", token=token)
    assert (status, body["error"]["code"]) == (400, "malformed_request")
    status, body, _ = server.call("POST", "/api/templates", raw=b"x" * (1024 * 1024 + 1), token=token)
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
    status, body, _ = server.call("GET", "/api/templates")
    assert (status, body["error"]["code"]) == (401, "not_authenticated")


def test_server__celery_worker_runs_what_beat_schedules(server: Server):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = server.call("GET", "/api/health")[1]
        if body["worker"]["alive"]:
            return
        time.sleep(0.5)
    pytest.fail(f"the worker never recorded a heartbeat: {body}")


def test_server__admin_and_docs_are_served_with_their_static_files(server: Server):
    for path in ["/admin/login/", "/api/docs/"]:
        with urllib.request.urlopen(server.base + path, timeout=10) as response:
            assert response.status == 200
    with urllib.request.urlopen(server.base + "/static/admin/css/base.css", timeout=10) as response:
        assert response.status == 200


def test_server__the_readme_lifecycle__template_to_production_through_four_reviewers(server: Server):
    author, deployer = server.tokens["author"], server.tokens["deployer"]
    # Create a template, and a new version of it
    status, template, _ = server.call(
        "POST",
        "/api/templates",
        {
            "name": "Product Description Generator",
            "content": "Generate a product description for: {{product_name}}",
            "variables": [{"name": "product_name", "type": "string", "required": True}],
            "category": "generation",
        },
        token=author,
    )
    assert status == 201, template
    status, version, _ = server.call(
        "POST",
        "/api/versions/create",
        {
            "templateId": template["id"],
            "data": {
                "content": "Create an engaging product description for: {{product_name}}",
                "environment": "development",
            },
        },
        token=author,
    )
    assert (status, version["version"]) == (201, "1.0.1"), version
    # Submit it for production
    status, request, _ = server.call(
        "POST", "/api/approval/submit", {"versionId": version["id"], "environment": "production"}, token=author
    )
    assert (status, request["status"]) == (201, "pending"), request
    # Not deployable yet
    status, refused, _ = server.call(
        "PUT", f"/api/versions/{version['id']}/deploy", {"environment": "production"}, token=deployer
    )
    assert (status, refused["error"]["code"]) == (409, "not_approved")
    # Four reviewers approve their stages in order
    for index, role in enumerate(["technical", "qa", "security", "business"]):
        status, request, _ = server.call(
            "POST",
            "/api/approval/approve",
            {
                "versionId": version["id"],
                "environment": "production",
                "data": {"stageIndex": index, "comment": f"{role}: looks good"},
            },
            token=server.tokens[role],
        )
        assert status == 200, request
    assert request["status"] == "approved"
    # Deploy, then render in production: every worker serves it from the moment the deploy returns
    status, deployment, _ = server.call(
        "PUT", f"/api/versions/{version['id']}/deploy", {"environment": "production"}, token=deployer
    )
    assert (status, deployment["status"]) == (200, "active"), deployment
    for _ in range(6 * WORKERS):
        status, rendered, _ = server.call(
            "POST",
            f"/api/templates/{template['id']}/render",
            {"environment": "production", "variables": {"product_name": "Headphones"}},
            token=server.tokens["reader"],
        )
        assert status == 200, rendered
        assert rendered["rendered"] == "Create an engaging product description for: Headphones"


def test_server__beat_and_worker_email_reminders_for_waiting_requests(server: Server):
    author = server.tokens["author"]
    _, template, _ = server.call("POST", "/api/templates", {"name": "Waits", "content": "Hi"}, token=author)
    version_id = template["latestVersion"]["id"]
    server.call("POST", "/api/approval/submit", {"versionId": version_id, "environment": "staging"}, token=author)
    server.call(
        "POST",
        "/api/approval/approve",
        {"versionId": version_id, "environment": "staging", "data": {"stageIndex": 0}},
        token=server.tokens["technical"],
    )
    # Stage 1 (qa) now waits; qa-reviewer has an email address. The console email backend prints to the log.
    assert server.log is not None
    # Both lines: the log is read while the worker may still be writing the email, a line at a time.
    subject = "Subject: Waiting for your review: Waits 1.0.0 for staging"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        log = server.log.read_text()
        if subject in log and "To: qa@example.com" in log:
            return
        time.sleep(0.5)
    pytest.fail(f"no reminder email to qa@example.com in the server's log (subject seen: {subject in log})")


def test_server__executions_reported_then_read_as_metrics(server: Server):
    author = server.tokens["author"]
    _, template, _ = server.call("POST", "/api/templates", {"name": "Measured", "content": "Hi"}, token=author)
    version_id = template["latestVersion"]["id"]
    rows = [
        {
            "templateVersionId": version_id,
            "status": "success" if i % 4 else "error",
            "responseTime": 100 + i,
            "metadata": {"requestId": f"e2e-{i}", "region": "eu"},
            **({} if i % 4 else {"error": {"type": "X"}}),
        }
        for i in range(40)
    ]
    status, body, _ = server.call("POST", "/api/executions/batch", {"executions": rows}, token=author)
    assert (status, body) == (201, {"created": 40, "duplicates": 0})
    status, body, _ = server.call("POST", "/api/executions/batch", {"executions": rows[:5]}, token=author)
    assert body == {"created": 0, "duplicates": 5}
    status, metrics, _ = server.call("GET", f"/api/performance/metrics?versionId={version_id}", token=author)
    assert status == 200, metrics
    assert (metrics["totalExecutions"], metrics["errorCount"], metrics["errorsByType"]) == (40, 10, {"X": 10})


def _exchange(
    server: Server, head: str, chunks: list[bytes] | None = None, raw_body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One request over a raw socket, as a client that streams its body would send it: the head's lines
    (indentation stripped, CRLF added), then each of `chunks` in chunked framing, or `raw_body` as it is.
    The status, headers and body of the answer."""
    host, port = server.base.removeprefix("http://").split(":")
    lines = [line.strip() for line in head.strip().splitlines()]
    request = "".join(f"{line}\r\n" for line in lines).encode("latin-1") + b"\r\n" + raw_body
    if chunks is not None:
        request += b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while part := sock.recv(65536):  # the sync worker closes the connection after each answer
            answer += part
    head_bytes, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    if headers.get("transfer-encoding") == "chunked":
        decoded, rest = b"", body
        while (size := int(rest.split(b"\r\n", 1)[0], 16)) > 0:
            rest = rest.split(b"\r\n", 1)[1]
            decoded, rest = decoded + rest[:size], rest[size + 2 :]
        body = decoded
    return int(status_line.split()[1]), headers, body


def test_server__chunked_render_body__read_and_used_for_the_answer(server: Server):
    # Given a template active in development
    author = server.tokens["author"]
    _, template, _ = server.call(
        "POST",
        "/api/templates",
        {"name": "Streamed", "content": "Hello {{who}}", "variables": [{"name": "who"}]},
        token=author,
    )
    # When a client renders it with a body sent in chunks, without a Content-Length
    body = json.dumps({"environment": "development", "variables": {"who": "chunked world"}}).encode()
    status, _, answer = _exchange(
        server,
        f"""
        POST /api/templates/{template["id"]}/render HTTP/1.1
        Host: 127.0.0.1
        Authorization: Token {server.tokens["reader"]}
        Content-Type: application/json
        Transfer-Encoding: chunked
        """,
        [body[:10], body[10:25], body[25:]],
    )
    # Then the answer is rendered from that body (not "nothing active in production", as for an empty one)
    assert status == 200, answer
    assert json.loads(answer)["rendered"] == "Hello chunked world"


def test_server__chunked_body_over_the_size_limit__413_json(server: Server):
    # Given a body one byte over the limit (1 MiB by default), streamed in 64 KiB chunks
    limit = 1024 * 1024
    body = json.dumps({"name": "Too big", "description": "x" * limit}).encode()[: limit + 1]
    chunks = [body[start : start + 65536] for start in range(0, len(body), 65536)]
    # When it is posted without a Content-Length
    status, headers, answer = _exchange(
        server,
        f"""
        POST /api/templates HTTP/1.1
        Host: 127.0.0.1
        Authorization: Token {server.tokens["author"]}
        Content-Type: application/json
        Transfer-Encoding: chunked
        """,
        chunks,
    )
    # Then it is refused with the API's error shape, and the client could read that answer
    assert status == 413, answer
    assert headers["content-type"] == "application/json"
    assert json.loads(answer)["error"]["code"] == "payload_too_large"


def test_server__chunked_admin_login_form__read_and_signed_in(server: Server):
    # Given a superuser with a password, and the admin's login form (its CSRF cookie and token)
    server.manage("create_api_token", "chunky-admin", "--superuser")
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        "u = User.objects.get(username='chunky-admin'); u.set_password('s3cret-pass'); u.save()",
    )
    status, headers, page = _exchange(server, "GET /admin/login/ HTTP/1.1\nHost: 127.0.0.1")
    assert status == 200
    cookie = headers["set-cookie"].split(";")[0]
    token = page.split(b'name="csrfmiddlewaretoken" value="')[1].split(b'"')[0].decode()
    # When the form is sent in chunks, without a Content-Length
    form = f"csrfmiddlewaretoken={token}&username=chunky-admin&password=s3cret-pass&next=/admin/".encode()
    status, headers, page = _exchange(
        server,
        f"""
        POST /admin/login/ HTTP/1.1
        Host: 127.0.0.1
        Cookie: {cookie}
        Content-Type: application/x-www-form-urlencoded
        Transfer-Encoding: chunked
        """,
        [form[:20], form[20:]],
    )
    # Then the form was read: the CSRF check passed and the user is signed in (an empty body is a 403)
    assert status == 302, page
    assert headers["location"] == "/admin/"


def test_server__overlong_url__414_json_and_the_server_keeps_serving(server: Server):
    # Given a URL past gunicorn's request line limit (4094 bytes)
    path = "/api/templates?search=" + "x" * 5000
    # When it is requested
    status, headers, answer = _exchange(server, f"GET {path} HTTP/1.1\nHost: 127.0.0.1")
    # Then the answer is the API's JSON error shape, saying what is wrong
    assert status == 414, answer
    assert headers["content-type"] == "application/json"
    error = json.loads(answer)["error"]
    assert error["code"] == "uri_too_long"
    assert "4094" in error["message"]
    # And the server still answers as before
    assert server.call("GET", "/api/health")[0] == 200


def test_server__oversized_header__431_json(server: Server):
    # Given a header field past gunicorn's limit (8190 bytes)
    # When it is sent
    status, headers, answer = _exchange(server, f"GET /api/templates HTTP/1.1\nHost: 127.0.0.1\nX-Big: {'y' * 9000}")
    # Then the answer is the API's JSON error shape
    assert status == 431, answer
    assert headers["content-type"] == "application/json"
    assert json.loads(answer)["error"]["code"] == "headers_too_large"


def test_server__malformed_chunked_body__400_json(server: Server):
    # Given a chunked body whose first chunk size is not hexadecimal
    head = f"""
        POST /api/templates HTTP/1.1
        Host: 127.0.0.1
        Authorization: Token {server.tokens["author"]}
        Content-Type: application/json
        Transfer-Encoding: chunked
        """
    # When it is posted
    status, headers, answer = _exchange(server, head, raw_body=b"zz\r\n{}\r\n0\r\n\r\n")
    # Then it is a 400 in the API's JSON error shape
    assert status == 400, answer
    assert headers["content-type"] == "application/json"
    assert json.loads(answer)["error"]["code"] == "malformed_request"


def _served_by_every_worker(server: Server, template_id: str, environment: str = "production") -> set[str]:
    """The versions that separate connections (each may reach any worker process) were served."""
    seen = set()
    for _ in range(6 * WORKERS):
        status, rendered, _ = server.call(
            "POST",
            f"/api/templates/{template_id}/render",
            {"environment": environment, "variables": {"inquiry": "How do I reset my password?"}},
            token=server.tokens["reader"],
        )
        assert status == 200, rendered
        seen.add(rendered["version"])
    return seen


def _approved(server: Server, version_id: str) -> None:
    """Approved for production through its four stages, not deployed."""
    status, _, _ = server.call(
        "POST",
        "/api/approval/submit",
        {"versionId": version_id, "environment": "production"},
        token=server.tokens["author"],
    )
    assert status == 201
    for index, role in enumerate(["technical", "qa", "security", "business"]):
        decision = {"versionId": version_id, "environment": "production", "data": {"stageIndex": index}}
        assert server.call("POST", "/api/approval/approve", decision, token=server.tokens[role])[0] == 200


def _approved_and_deployed(server: Server, version_id: str) -> None:
    _approved(server, version_id)
    status, deployment, _ = server.call(
        "PUT", f"/api/versions/{version_id}/deploy", {"environment": "production"}, token=server.tokens["deployer"]
    )
    assert status == 200, deployment


def test_server__the_readme_rollback_examples__validate_initiate_emergency(server: Server):
    author, deployer = server.tokens["author"], server.tokens["deployer"]
    # Given "Customer Support Response" 1.0.0, then 1.0.1, each approved and deployed to production
    status, template, _ = server.call(
        "POST",
        "/api/templates",
        {
            "name": "Rollback Support Response",
            "content": "Please respond to the customer inquiry: {{inquiry}}",
            "variables": [{"name": "inquiry", "type": "string", "required": True}],
            "category": "generation",
        },
        token=author,
    )
    assert status == 201, template
    previous = template["latestVersion"]["id"]
    status, version, _ = server.call(
        "POST",
        "/api/versions/create",
        {"templateId": template["id"], "data": {"content": "Answer briefly: {{inquiry}}"}},
        token=author,
    )
    assert status == 201, version
    current = version["id"]
    for version_id in (previous, current):
        _approved_and_deployed(server, version_id)
    assert _served_by_every_worker(server, template["id"]) == {"1.0.1"}

    # GET /rollback/validate?currentVersionId=version-current&targetVersionId=version-target
    status, validation, _ = server.call(
        "GET", f"/api/rollback/validate?currentVersionId={current}&targetVersionId={previous}", token=deployer
    )
    assert status == 200, validation
    assert (validation["valid"], validation["reasons"]) == (True, [])
    assert validation["impact"]["interface"]["breaking"] == []

    # POST /rollback/initiate, the README's body (its userId is ignored: the caller acts)
    status, rollback, _ = server.call(
        "POST",
        "/api/rollback/initiate",
        {
            "currentVersionId": current,
            "targetVersionId": previous,
            "reason": "Performance degradation detected",
            "userId": "admin-user",
            "rollbackType": "manual",
        },
        token=deployer,
    )
    assert status == 201, rollback
    assert (rollback["rollbackType"], rollback["status"]) == ("manual", "completed")
    assert rollback["initiatedBy"] == "deployer"
    # Every worker serves the target from the moment the call returned
    assert _served_by_every_worker(server, template["id"]) == {"1.0.0"}
    # Initiating it again: 1.0.1 is no longer the active version
    status, conflict, _ = server.call(
        "POST",
        "/api/rollback/initiate",
        {"currentVersionId": current, "targetVersionId": previous, "reason": "Again", "rollbackType": "manual"},
        token=deployer,
    )
    assert (status, conflict["error"]["code"]) == (409, "current_not_active")

    # 1.0.1, fixed upstream, is deployed again; then POST /rollback/emergency by the security team
    status, _, _ = server.call("PUT", f"/api/versions/{current}/deploy", {"environment": "production"}, token=deployer)
    assert status == 200
    assert _served_by_every_worker(server, template["id"]) == {"1.0.1"}
    status, emergency, _ = server.call(
        "POST",
        "/api/rollback/emergency",
        {
            "templateId": template["id"],
            "environment": "production",
            "reason": "Critical security vulnerability",
            "userId": "security-team",
        },
        token=server.tokens["security"],
    )
    assert status == 201, emergency
    assert (emergency["rollbackType"], emergency["to"]["version"], emergency["initiatedBy"]) == (
        "emergency",
        "1.0.0",
        "security-reviewer",
    )
    assert _served_by_every_worker(server, template["id"]) == {"1.0.0"}

    # The history lists both, newest first; what was live where says how each version became active
    status, history, _ = server.call("GET", f"/api/rollback/history?templateId={template['id']}", token=author)
    assert status == 200
    assert [item["rollbackType"] for item in history["results"]] == ["emergency", "manual"]
    status, deployments, _ = server.call(
        "GET", f"/api/templates/{template['id']}/deployments?environment=production", token=author
    )
    assert [(row["version"], row["kind"], row["status"]) for row in deployments["results"]] == [
        ("1.0.0", "emergency_rollback", "active"),
        ("1.0.1", "redeploy", "rolled_back"),
        ("1.0.0", "manual_rollback", "superseded"),
        ("1.0.1", "deploy", "rolled_back"),
        ("1.0.0", "deploy", "superseded"),
    ]


def test_server__failing_burst_in_production__rule_rolls_back_and_signed_webhook_arrives(server: Server):
    """The automatic path with the real stack: beat schedules the evaluation every
    ROLLBACK_EVALUATION_SECONDS (2 s here), the worker evaluates, rolls back and sends the webhook."""
    author, deployer = server.tokens["author"], server.tokens["deployer"]
    # Given 1.0.0 then 1.0.1 of a template, each approved and deployed to production
    status, template, _ = server.call(
        "POST",
        "/api/templates",
        {
            "name": "Auto Rollback Support",
            "content": "Please respond to the customer inquiry: {{inquiry}}",
            "variables": [{"name": "inquiry", "type": "string", "required": True}],
        },
        token=author,
    )
    assert status == 201, template
    first = template["latestVersion"]["id"]
    status, second, _ = server.call(
        "POST",
        "/api/versions/create",
        {"templateId": template["id"], "data": {"content": "Answer in one word: {{inquiry}}"}},
        token=author,
    )
    assert status == 201, second
    for version_id in (first, second["id"]):
        _approved_and_deployed(server, version_id)
    assert _served_by_every_worker(server, template["id"]) == {"1.0.1"}

    with Receiver().running() as receiver:
        # And a rule: success rate below 95% over the last minute, 2 breaches in a row, roll back
        rule = {
            "templateId": template["id"],
            "environment": "production",
            "metric": "success_rate",
            "operator": "lt",
            "threshold": 95,
            "windowMinutes": 1,
            "minExecutions": 20,
            "consecutiveBreaches": 2,
            "action": "rollback",
            "notify": {"webhookUrl": receiver.url},
        }
        status, created, _ = server.call("POST", "/api/rollback/triggers", rule, token=deployer)
        assert status == 201, created
        # When 1.0.1 fails 40 times in a row in production
        burst = [
            {
                "templateVersionId": second["id"],
                "environment": "production",
                "status": "error",
                "responseTime": 900,
                "error": {"type": "ContextLengthExceeded"},
                "metadata": {"requestId": f"burst-{index}"},
            }
            for index in range(40)
        ]
        status, body, _ = server.call("POST", "/api/executions/batch", {"executions": burst}, token=author)
        assert (status, body) == (201, {"created": 40, "duplicates": 0})
        reported = time.monotonic()

        # Then production serves 1.0.0 again within 2 breaches x 2 s, plus a generous margin for a busy machine
        deadline = reported + 2 * 2 + 25
        while _served_by_every_worker(server, template["id"]) != {"1.0.0"}:
            assert time.monotonic() < deadline, f"no rollback yet:\n{server.log.read_text()[-3000:]}"  # type: ignore[union-attr]
            time.sleep(0.25)

        # And the rollback is recorded as automatic, by the rule, with the breaching evaluations as evidence
        status, history, _ = server.call("GET", f"/api/rollback/history?templateId={template['id']}", token=author)
        assert status == 200, history
        (rollback,) = history["results"]
        assert (rollback["rollbackType"], rollback["status"]) == ("automatic", "completed")
        assert (rollback["from"]["version"], rollback["to"]["version"]) == ("1.0.1", "1.0.0")
        assert rollback["initiatedBy"] == f"system:rule:{created['id']}"
        evaluations = rollback["evidence"]["evaluations"]
        assert [row["streak"] for row in evaluations] == [1, 2]
        assert all(row["observed"] == 0 and row["sampleSize"] == 40 for row in evaluations)
        status, alerts, _ = server.call("GET", f"/api/alerts?templateId={template['id']}", token=author)
        (alert,) = alerts["results"]
        assert (alert["outcome"], alert["rollbackId"]) == ("rolled_back", rollback["id"])

        # And the rule's webhook arrives, signed with the rule's secret (Standard Webhooks)
        deadline = time.monotonic() + 20
        while not receiver.requests:
            assert time.monotonic() < deadline, "the webhook never arrived"
            time.sleep(0.1)
        (delivery,) = receiver.requests
        event = Webhook(created["webhookSecret"]).verify(delivery.body, delivery.headers)
        assert event["type"] == "alert.fired"
        assert (event["data"]["outcome"], event["data"]["rollbackId"]) == ("rolled_back", rollback["id"])


def test_server__the_readme_ab_workflow__create_start_render_report_results_promote(server: Server):
    """The original README's A/B workflow over HTTP against the real stack: create the test with the README's
    payload, start it, render for many subjects, report their executions in a batch, read results that agree
    with an independent analysis, promote the winner."""
    from scipy import stats

    author, deployer = server.tokens["author"], server.tokens["deployer"]
    status, template, _ = server.call(
        "POST",
        "/api/templates",
        {
            "name": "AB Support Response",
            "content": "Please respond to the customer inquiry: {{inquiry}}",
            "variables": [{"name": "inquiry", "type": "string", "required": True}],
        },
        token=author,
    )
    assert status == 201, template
    control_id = template["latestVersion"]["id"]
    status, improved, _ = server.call(
        "POST",
        "/api/versions/create",
        {"templateId": template["id"], "data": {"content": "With our manual at hand, answer: {{inquiry}}"}},
        token=author,
    )
    assert status == 201, improved
    _approved_and_deployed(server, control_id)  # production serves 1.0.0
    _approved(server, improved["id"])  # 1.0.1 approved for production, not deployed

    # 1. Create the test with the README's payload (plus the template and the environment)
    payload = {
        "name": "Response Quality Test",
        "description": "Testing improved response generation",
        "templateId": template["id"],
        "environment": "production",
        "variants": [
            {"id": "control", "name": "Original", "templateVersionId": control_id, "trafficPercentage": 50},
            {"id": "variant-a", "name": "Improved", "templateVersionId": improved["id"], "trafficPercentage": 50},
        ],
        "trafficSplit": {"control": 50, "variant-a": 50},
        "successMetrics": [
            {"name": "user_satisfaction", "type": "user_satisfaction", "target": 4.5, "weight": 0.7},
            {"name": "response_time", "type": "response_time", "target": 1000, "weight": 0.3},
        ],
        "hypothesis": "Enhanced context will improve user satisfaction by 15%",
    }
    status, test, _ = server.call("POST", "/api/abtests/create", payload, token=author)
    assert (status, test.get("status")) == (201, "draft"), test
    # 2. Start it
    status, started, _ = server.call("POST", "/api/abtests/start", {"testId": test["id"]}, token=deployer)
    assert (status, started["status"]) == (200, "running"), started

    # 3. Render for 400 subjects (each may reach any web worker): each gets its variant, the same every time
    served: dict[str, str] = {}
    for number in range(400):
        subject = f"customer-{number}"
        status, rendered, _ = server.call(
            "POST",
            f"/api/templates/{template['id']}/render",
            {"environment": "production", "variables": {"inquiry": "Where is my order?"}, "subjectId": subject},
            token=server.tokens["reader"],
        )
        assert status == 200, rendered
        assert rendered["abTestId"] == test["id"]
        served[subject] = rendered["variantId"]
        if number % 50 == 0:  # sticky, whichever worker answers
            again = server.call(
                "POST",
                f"/api/templates/{template['id']}/render",
                {"environment": "production", "variables": {"inquiry": "Hi"}, "subjectId": subject},
                token=server.tokens["reader"],
            )[1]
            assert again["variantId"] == served[subject]
    counts = {variant: list(served.values()).count(variant) for variant in ("control", "variant-a")}
    assert 140 <= counts["control"] <= 260, counts  # 50/50, with room for chance (p < 1e-8 outside)

    # 4. Report each subject's call, as an integration does: the improved prompt pleases more
    satisfaction = {
        subject: (3 + number % 2 if variant == "control" else 4 + (number % 3 > 0))
        for number, (subject, variant) in enumerate(served.items())
    }
    rows = [
        {
            "templateVersionId": control_id if variant == "control" else improved["id"],
            "environment": "production",
            "status": "success",
            "responseTime": 800 + (number % 7) * 10,
            "userSatisfaction": satisfaction[subject],
            "userId": subject,
            "abTestId": test["id"],
            "variantId": variant,
            "metadata": {"requestId": f"ab-{number}"},
        }
        for number, (subject, variant) in enumerate(served.items())
    ]
    status, body, _ = server.call("POST", "/api/executions/batch", {"executions": rows}, token=author)
    assert (status, body) == (201, {"created": 400, "duplicates": 0})

    # 5. Results agree with an independent analysis of what was reported
    status, results, _ = server.call("GET", f"/api/abtests/{test['id']}/results", token=author)
    assert status == 200, results
    by_variant = {row["variantId"]: row for row in results["variantResults"]}
    values = {variant: [satisfaction[s] for s, v in served.items() if v == variant] for variant in counts}
    for variant in counts:
        assert by_variant[variant]["executions"] == counts[variant]
        assert by_variant[variant]["subjects"] == counts[variant]
        assert by_variant[variant]["averageSatisfaction"] == pytest.approx(
            sum(values[variant]) / len(values[variant]), abs=1e-4
        )
    (comparison,) = [
        row for row in results["comparisons"] if row["variantId"] == "variant-a" and row["type"] == "user_satisfaction"
    ]
    welch = stats.ttest_ind(values["variant-a"], values["control"], equal_var=False)
    assert comparison["pValue"] == pytest.approx(welch.pvalue, rel=1e-6, abs=1e-12)
    assert comparison["significant"] is True
    assert results["statisticalSignificance"] is True
    assert results["winner"] == "variant-a"

    # 6. Promote the winner: production serves it to everyone; the test is completed
    status, promoted, _ = server.call(
        "POST", f"/api/abtests/{test['id']}/promote", {"variantId": "variant-a"}, token=deployer
    )
    assert status == 200, promoted
    assert (promoted["test"]["status"], promoted["test"]["winner"]) == ("completed", "variant-a")
    assert _served_by_every_worker(server, template["id"]) == {"1.0.1"}
