"""The client against the real server (started as `make run` starts it): it renders what the server
renders, assigns A/B subjects as the server does, learns of a deploy and a rollback within its refresh
interval, and makes one request per interval whatever the number of templates."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from promptclient import PromptClient, TemplateUnavailable, ValuesInvalid

from lifecycle.testing.server import Server

pytestmark = pytest.mark.server


def create(server: Server, name: str, **definition: Any) -> dict[str, Any]:
    body = {"name": f"{name} {uuid.uuid4().hex[:8]}", **definition}
    status, template, _ = server.call("POST", "/api/templates", body, token=server.tokens["author"])
    assert status == 201, template
    return template


def next_version(server: Server, template_id: str, **data: Any) -> str:
    body = {"templateId": template_id, "data": data}
    status, version, _ = server.call("POST", "/api/versions/create", body, token=server.tokens["author"])
    assert status == 201, version
    return version["id"]


def server_render(server: Server, template_id: str, values: dict[str, Any], subject: str | None = None) -> Any:
    body: dict[str, Any] = {"environment": "production", "variables": values}
    if subject is not None:
        body["subjectId"] = subject
    return server.call("POST", f"/api/templates/{template_id}/render", body, token=server.tokens["reader"])


@pytest.fixture
def client(server: Server) -> Iterator[PromptClient]:
    made = PromptClient(server.base, server.tokens["reader"], refresh_interval=0.5, timeout=5.0)
    yield made
    made.close()


def until(condition: Any, timeout: float) -> float | None:
    """Seconds until `condition()` held (checked every 10 ms), or None if it did not within `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.01)
    return None


# A corpus of what authors write: typed variables with defaults and rules, chat prompts, literal braces,
# JSON in the text, non-ASCII, a composed prompt; each rendered with values that pass and values that fail.
CORPUS: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [
    (
        {"content": "Say hello to {{ name }}.", "variables": [{"name": "name", "type": "string"}]},
        [{"name": "Zoë"}, {"name": "{{name}} ${x} {% if %}"}, {}, {"name": 3}],
    ),
    (
        {
            "content": "Limit {{limit}}, strict {{strict}}, tags {{tags}}, data {{data}}, tone {{tone}}.",
            "variables": [
                {"name": "limit", "type": "integer", "minimum": 1, "maximum": 10},
                {"name": "strict", "type": "boolean"},
                {"name": "tags", "type": "array", "required": False, "default": ["a"]},
                {"name": "data", "type": "object", "required": False, "default": {"k": 1.5}},
                {"name": "tone", "enum": ["kind", "brief"], "required": False, "default": "kind"},
            ],
        },
        [
            {"limit": 3, "strict": True},
            {"limit": 10, "strict": False, "tags": ["x", "ü"], "data": {"a": [1, None]}, "tone": "brief"},
            {"limit": 11, "strict": True},
            {"limit": 2.5, "strict": "yes"},
            {"limit": 1, "strict": True, "tone": "rude"},
        ],
    ),
    (
        {
            "messages": [
                {"role": "system", "content": 'You answer for {{company}}. JSON: {"a": 1} }}'},
                {"role": "user", "content": "\\{{not a placeholder}} {{question}}"},
            ],
            "variables": [{"name": "company"}, {"name": "question", "pattern": "^[^<>]*$", "maxLength": 50}],
            "modelConfig": {"model": "claude-sonnet", "temperature": 0.1},
        },
        [{"company": "ACME", "question": "Where?"}, {"company": "ACME", "question": "<script>"}],
    ),
]


def test_render__a_corpus__the_same_answers_and_refusals_as_the_server(server, client):
    for definition, value_sets in CORPUS:
        template = create(server, "Client corpus", **definition)
        server.release(template["latestVersion"]["id"])
        for values in value_sets:
            status, expected, _ = server_render(server, template["id"], values)
            if status == 200:
                assert client.render(template["id"], values) == expected
            else:
                assert status == 400, expected
                with pytest.raises(ValuesInvalid) as refused:
                    client.render(template["id"], values)
                assert refused.value.fields == expected["error"]["fields"]


def test_render__a_composed_prompt__as_the_server_renders_it(server, client):
    part = create(server, "client-part", content="Answer in {{language}}.", variables=[{"name": "language"}])
    server.release(part["latestVersion"]["id"])
    prompt = create(
        server,
        "Client composed",
        content=f"{{{{> {part['name']}}}}}\nCustomer: {{{{question}}}}",
        variables=[{"name": "question"}],
    )
    server.release(prompt["latestVersion"]["id"])
    values = {"language": "French", "question": "Où est ma commande ?"}
    status, expected, _ = server_render(server, prompt["id"], values)
    assert status == 200, expected
    assert client.render(prompt["id"], values) == expected
    assert client.render(prompt["name"].upper(), values) == expected  # by name, in any case


def test_ab_test__the_client_assigns_every_subject_as_the_server_does(server, client):
    template = create(server, "Client A/B", content="A: {{q}}", variables=[{"name": "q"}])
    first = template["latestVersion"]["id"]
    server.release(first)
    second = next_version(server, template["id"], content="B: {{q}}")
    server.approve(second)
    test = {
        "name": "Client agreement",
        "templateId": template["id"],
        "environment": "production",
        "variants": [
            {"id": "control", "name": "A", "templateVersionId": first, "trafficPercentage": 30},
            {"id": "variant-a", "name": "B", "templateVersionId": second, "trafficPercentage": 70},
        ],
    }
    status, created, _ = server.call("POST", "/api/abtests/create", test, token=server.tokens["author"])
    assert status == 201, created
    status, started, _ = server.call(
        "POST", "/api/abtests/start", {"testId": created["id"]}, token=server.tokens["deployer"]
    )
    assert status == 200, started
    assert until(lambda: "abTestId" in client.render(template["id"], {"q": "x"}, subject_id="s"), 5) is not None
    seen = set()
    for number in range(300):
        subject = f"subject-{number}-{uuid.uuid4().hex[:4]}"
        status, expected, _ = server_render(server, template["id"], {"q": "x"}, subject)
        assert status == 200
        assert client.render(template["id"], {"q": "x"}, subject_id=subject) == expected
        seen.add(expected["variantId"])
    assert seen == {"control", "variant-a"}
    # Without a subject, the active version, as the server serves it
    assert client.render(template["id"], {"q": "x"}) == server_render(server, template["id"], {"q": "x"})[1]


def test_freshness__a_deploy_and_a_rollback_reach_the_client_within_the_interval_plus_a_second(server, client):
    template = create(server, "Client freshness", content="One: {{q}}", variables=[{"name": "q"}])
    first = template["latestVersion"]["id"]
    server.release(first)
    assert client.render(template["id"], {"q": "x"})["versionId"] == first
    second = next_version(server, template["id"], content="Two: {{q}}")
    server.approve(second)
    status, body, _ = server.call(
        "PUT", f"/api/versions/{second}/deploy", {"environment": "production"}, token=server.tokens["deployer"]
    )
    assert status == 200, body
    took = until(lambda: client.render(template["id"], {"q": "x"})["versionId"] == second, 5)
    assert took is not None
    assert took <= client.refresh_interval + 1.0
    rollback = {"currentVersionId": second, "targetVersionId": first, "environment": "production", "reason": "bad"}
    status, body, _ = server.call("POST", "/api/rollback/initiate", rollback, token=server.tokens["deployer"])
    assert status in (200, 201), body
    took = until(lambda: client.render(template["id"], {"q": "x"})["versionId"] == first, 5)
    assert took is not None
    assert took <= client.refresh_interval + 1.0


def test_requests__one_per_interval_however_many_templates(server):
    templates = [create(server, "Client many", content="{{q}}", variables=[{"name": "q"}]) for _ in range(25)]
    for template in templates:
        server.release(template["latestVersion"]["id"])
    with PromptClient(
        server.base, server.tokens["reader"], refresh_interval=0.5, templates=[t["id"] for t in templates]
    ) as client:
        assert client.wait_until_ready(10)
        for template in templates:
            client.render(template["name"], {"q": "x"})
        before, started = client.stats["requests"], time.monotonic()
        time.sleep(3.0)
        made = client.stats["requests"] - before
        intervals = (time.monotonic() - started) / client.refresh_interval
    # One request per interval at most (each waits the interval after the last answer), not one per template
    assert 2 <= made <= intervals + 1


def test_unknown_template__a_clear_error_or_the_fallback(client):
    with pytest.raises(TemplateUnavailable, match="no template has this id or name") as caught:
        client.render("No such template anywhere", {"q": "x"})
    assert caught.value.template == "No such template anywhere"
    answer = client.render("No such template anywhere", {"q": "Hi"}, fallback="Answer: {{q}}")
    assert answer == {"environment": "production", "fallback": True, "modelConfig": {}, "rendered": "Answer: Hi"}


def test_nothing_active_in_the_environment__a_clear_error(server, client):
    template = create(server, "Client dev only", content="{{q}}", variables=[{"name": "q"}])
    with pytest.raises(TemplateUnavailable, match="no version is active in production"):
        client.render(template["id"], {"q": "x"})


def test_unknown_template__asked_once_then_answered_from_memory(client):
    with pytest.raises(TemplateUnavailable, match="no template has this id or name"):
        client.render("Nobody made this one", {"q": "x"})
    asked = client.stats["requests"]
    for _ in range(5):
        assert client.render("Nobody made this one", {"q": "x"}, fallback="{{q}}")["rendered"] == "x"
    assert client.stats["requests"] == asked  # the server said it does not know it: not asked again


@pytest.mark.parametrize("reference", ["", "   ", "x" * 201, "a\x00b", "lone \ud800 surrogate"])
def test_not_a_reference__refused_without_a_request_and_refreshing_goes_on(server, client, reference):
    template = create(server, "Client refs", content="One {{q}}", variables=[{"name": "q"}])
    server.release(template["latestVersion"]["id"])
    assert client.render(template["id"], {"q": "x"})["version"] == "1.0.0"
    asked = client.stats["requests"]
    with pytest.raises(TemplateUnavailable, match=r"at most 200 characters|named by its id or its name|NUL"):
        client.render(reference, {"q": "x"})
    assert client.stats["requests"] == asked
    # The other templates still refresh: a new version reaches the client
    second = next_version(server, template["id"], content="Two {{q}}")
    server.release(second)
    assert until(lambda: client.render(template["id"], {"q": "x"})["versionId"] == second, 5) is not None


def test_token_refused__a_clear_error_and_the_fallback(server, caplog):
    with PromptClient(server.base, "not-a-token", refresh_interval=0.5) as refused:
        with pytest.raises(TemplateUnavailable, match=r"refuses this client's token \(401\)"):
            refused.render("Anything", {"q": "x"})
        assert refused.render("Anything", {"q": "x"}, fallback="{{q}}")["fallback"] is True


def test_answer_changed_by_the_caller__the_next_render_unchanged(server, client):
    template = create(server, "Client config", content="{{q}}", variables=[{"name": "q"}], modelConfig={"stop": ["\n"]})
    server.release(template["latestVersion"]["id"])
    first = client.render(template["id"], {"q": "x"})
    first["modelConfig"]["stop"].append("END")
    first["modelConfig"]["stream"] = True
    assert client.render(template["id"], {"q": "x"})["modelConfig"] == {"stop": ["\n"]}


def test_reports__what_cannot_be_sent_is_dropped_and_counted_and_the_rest_sent(server):
    template = create(server, "Client reports", content="{{q}}", variables=[{"name": "q"}])
    server.release(template["latestVersion"]["id"])
    with PromptClient(server.base, server.tokens["author"], report_interval=0.2) as client:
        answer = client.render(template["id"], {"q": "x"})
        client.report(answer, status="success", responseTime=12, metadata={"thing": object()})  # not JSON
        client.report(answer, status="success", responseTime=float("nan"))  # not JSON either
        client.report(client.render("No such template", {"q": "x"}, fallback="{{q}}"), status="success")
        client.report(templateVersionId=str(uuid.uuid4()), status="success", responseTime=1)  # no such version
        client.report(answer, status="success", responseTime=34)
        assert client.flush(10)
        assert client.stats["reportsSent"] == 1
        assert client.stats["reportsRejected"] == 4


def test_many_templates__one_short_request_per_interval(server):
    made = [create(server, "Client set", content="{{q}}", variables=[{"name": "q"}]) for _ in range(10)]
    for template in made:
        server.release(template["latestVersion"]["id"])
    # 10 real templates and 290 unknown names: far more than a URL could name
    references = [t["name"] for t in made] + [f"Not yet made, number {n}, with a rather long name" for n in range(290)]
    with PromptClient(server.base, server.tokens["reader"], refresh_interval=0.5, templates=references) as client:
        assert client.wait_until_ready(10)
        assert client.render(made[3]["name"], {"q": "x"})["version"] == "1.0.0"
        before, registered, started = client.stats["requests"], client.stats["registrations"], time.monotonic()
        time.sleep(2.0)
        made_requests = client.stats["requests"] - before
        assert 1 <= made_requests <= (time.monotonic() - started) / client.refresh_interval + 1
        assert client.stats["registrations"] == registered  # short GETs of the set, not the set again


def test_forked_worker__renders_and_reports_with_threads_of_its_own(server):
    import os

    template = create(server, "Client fork", content="{{q}}", variables=[{"name": "q"}])
    server.release(template["latestVersion"]["id"])
    with PromptClient(server.base, server.tokens["author"], report_interval=0.2) as client:
        answer = client.render(template["id"], {"q": "parent"})
        client.report(answer, status="success", responseTime=1)  # the parent's: sent by the parent only
        pid = os.fork()
        if pid == 0:  # a pre-forked web worker
            ok = client.render(template["id"], {"q": "child"})["rendered"] == "child"
            client.report(answer, status="success", responseTime=2)
            ok = ok and client.flush(10) and client.stats["reportsSent"] == 1
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert client.flush(10)
        assert client.stats["reportsSent"] == 1
    status, metrics, _ = server.call(
        "GET", f"/api/performance/metrics?versionId={answer['versionId']}", token=server.tokens["author"]
    )
    assert metrics["totalExecutions"] == 2  # one from each process, none twice
