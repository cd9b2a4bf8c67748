"""Property-based fuzzing of the whole API from its own OpenAPI schema (issue 10, point 1).

Schemathesis reads `/api/schema/` from the app itself and sends every operation generated requests, valid
and deliberately invalid ones, in-process through the WSGI app (no server, no network). Each operation is
fuzzed twice: as a superuser and as an authenticated user with no role. The test database is seeded first,
through the services, with what a real server holds: templates, versions, approval requests pending and
approved, deployments, executions rolled up; generated ids are swapped for seeded ones part of the time, so
that cases reach past "not found". Every answer is checked against the schema (see CHECKS).

Each case runs in a savepoint rolled back after it: every case sees the seeded data and nothing a previous
case wrote, so a failure replays the same way when Hypothesis shrinks it.

Bounded for CI: FUZZ_EXAMPLES (default 25) generated cases per operation and identity, on top of
Schemathesis' deterministic coverage cases (boundaries, missing and wrong-typed fields, unexpected methods;
about 4,000 requests in all); derandomized, and without Hypothesis' example database. About a minute on
SQLite or PostgreSQL on a 2-core machine. Skip with `-m "not fuzz"`; more locally with `FUZZ_EXAMPLES=200`.
`FUZZ_SURVEY=path.json` collects every distinct failure into that file (merged with what it holds) instead
of stopping at the first failure of each test: the list of what there is to fix.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
import traceback
import zlib
from collections.abc import Iterable, Iterator
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import hypothesis
import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import got_request_exception, request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import Client
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.core.failures import FailureGroup

from lifecycle.testing.api import api_key_for

pytestmark = pytest.mark.fuzz

# Hypothesis caches the constants it mines from our modules in its home directory, `.hypothesis/` in the
# working directory unless told otherwise: a directory of its own for this run, removed after it.
HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="lifecycle-fuzz-hypothesis-")
set_hypothesis_home_dir(HYPOTHESIS_HOME)
atexit.register(shutil.rmtree, HYPOTHESIS_HOME, ignore_errors=True)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SURVEY = os.environ.get("FUZZ_SURVEY")

# What every answer must satisfy (API.md, "Conventions": every answer is described in the schema; never a
# 500; invalid input is a 4xx). Left out, and why:
# - positive_data_acceptance: schema-valid input may rightly be refused by rules no schema states (content
#   may use only declared variables; a deploy needs an approval; ids must exist together).
# - use_after_free, ensure_resource_availability: they follow a created resource through links in the
#   stateful phase; the schema has neither DELETE operations nor links, and cases here are independent.
# - object_level_authorization: needs two identities' resources linked in the stateful phase; who may read
#   what is tested case by case in the apps' tests (issue 10, point 5).
# - max_response_time: wall-clock limits fail at random on a loaded CI machine.
CHECKS: dict[str, dict[str, Any]] = {
    "not_a_server_error": {"enabled": True},
    "status_code_conformance": {"enabled": True},
    "content_type_conformance": {"enabled": True},
    "response_schema_conformance": {"enabled": True},
    "response_headers_conformance": {"enabled": True},
    # Invalid input must be refused with a 4xx (API.md lists which); a 5xx is not_a_server_error's.
    "negative_data_rejection": {
        "enabled": True,
        "expected-statuses": ["400", "401", "403", "404", "405", "409", "411", "413", "415"],
    },
    # Credentials are required everywhere: without them, or with a wrong token, 401.
    "ignored_auth": {"enabled": True},
    # A method the schema does not list for a path: 405 with an Allow header.
    "unsupported_method": {"enabled": True},
    "allow_header_conformance": {"enabled": True},
    "missing_required_header": {"enabled": True},
    "positive_data_acceptance": {"enabled": False},
    "use_after_free": {"enabled": False},
    "ensure_resource_availability": {"enabled": False},
    "object_level_authorization": {"enabled": False},
}

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            "mode": "all",
            "max-examples": EXAMPLES,
            "deterministic": True,
            "database": "none",
            # The token is ours (see identity): generated Authorization headers would only be refused.
            "with-security-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}},
        "checks": CHECKS,
        # The reproducing curl must run as shown: the data is made up, and `tokenUsage` or `maxTokens` are
        # fields of the API, not secrets.
        "output": {"sanitization": {"enabled": False}},
    }
)


class InProcessApp:
    """The Django WSGI app, called the way Django's test client calls it: the connection is not closed
    around each request (`close_old_connections`), which would end the test's transaction and lose the
    seeded data. Exceptions that became a 500 are kept, for the failure's message."""

    def __init__(self) -> None:
        self.handler = WSGIHandler()
        self.exceptions: list[str] = []  # of the requests since the last clear()
        self.bodies: list[bytes] = []
        self.calling = False
        got_request_exception.connect(self._keep, weak=False)

    def _keep(self, **kwargs: Any) -> None:
        if self.calling:  # not another test's client
            self.exceptions.append("".join(traceback.format_exception(*sys.exc_info())))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        self.calling = True
        try:
            response = self.handler(environ, start_response)
            try:
                body = b"".join(response)
            finally:
                response.close()  # sends request_finished, while close_old_connections is off
            self.bodies.append(body)
            return [body]
        finally:
            self.calling = False
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)


APP = InProcessApp()

UNKNOWN_ID = "0b5c3e4e-2f5d-4c38-9a51-3c8f2a7d9e10"  # swapped for seeded ids by use_seeded_values
CONTENT = "Please respond to the customer inquiry: {{inquiry}}"
VARIABLES = [{"name": "inquiry", "type": "string", "required": True, "description": "Customer inquiry text"}]
LANGUAGE = {"name": "language", "type": "string", "required": False, "default": "English"}
EXECUTION = {
    "templateVersionId": UNKNOWN_ID,
    "userId": "user-456",
    "input": {"inquiry": "How do I reset my password?"},
    "output": "To reset your password, please...",
    "provider": "claude",
    "tokenUsage": {"inputTokens": 15, "outputTokens": 45, "totalTokens": 60, "cost": 0.002},
    "responseTime": 1200,
    "status": "success",
    "environment": "production",
    "metadata": {"userAgent": "Mozilla/5.0", "region": "eu-central-1", "requestId": "req-fuzz-1"},
}
DECISION = {"versionId": UNKNOWN_ID, "environment": "production", "data": {"stageIndex": 0, "comment": "Looks good"}}
# Requests as clients send them (the original README's payloads, API.md), for the operations whose schema has
# no example of its own. Schemathesis builds its coverage cases (each field at its boundaries, missing, of
# the wrong type) on an operation's example: on a request the server accepts, rather than on one it refuses
# for a rule the schema does not state (content may use only declared variables, `content` or `messages`).
REQUEST_EXAMPLES: dict[tuple[str, str], Any] = {
    ("post", "/api/templates"): {
        "name": "Fuzzed Support Response",
        "description": "Template for generating customer support responses",
        "content": CONTENT,
        "messages": None,  # a text prompt: without it, coverage cases fill in `messages` next to `content`
        "variables": VARIABLES,
        "provider": "claude",
        "modelConfig": {"model": "claude-sonnet", "temperature": 0.2, "maxTokens": 500},
        "category": "generation",
        "tags": ["support", "customer-service"],
        "metadata": {"author": "support-team", "version": "1.0.0", "changelog": "Initial version"},
    },
    ("post", "/api/versions/create"): {
        "templateId": UNKNOWN_ID,
        "data": {
            "content": CONTENT + " Answer in two sentences.",
            "messages": None,
            "variables": VARIABLES,
            "metadata": {"changelog": "Shorter answers"},
            "environment": "development",
        },
    },
    ("post", "/api/templates/{template_id}/render"): {
        "environment": "development",
        "variables": {"inquiry": "How do I reset my password?"},
        "subjectId": "user-1",
    },
    ("put", "/api/versions/{version_id}/deploy"): {"environment": "staging"},
    ("post", "/api/approval/submit"): {"versionId": UNKNOWN_ID, "environment": "production"},
    ("post", "/api/approval/approve"): DECISION,
    ("post", "/api/approval/reject"): DECISION,
    ("post", "/api/approval/cancel"): {"versionId": UNKNOWN_ID, "environment": "production"},
    ("post", "/api/approval/comment"): {
        "versionId": UNKNOWN_ID,
        "environment": "production",
        "comment": "Please check the tone.",
    },
    ("post", "/api/executions"): EXECUTION,
    ("post", "/api/executions/batch"): {"executions": [EXECUTION]},
}


def served_schema() -> dict[str, Any]:
    """The schema as the app serves it, with REQUEST_EXAMPLES where an operation has no example."""
    response = Client(HTTP_HOST="localhost").get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content
    served = response.json()
    for (method, path), example in REQUEST_EXAMPLES.items():
        operation = served["paths"].get(path, {}).get(method)
        body = operation and operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body and "example" not in body and "examples" not in body:
            body["example"] = deepcopy(example)
    return served


schema = schemathesis.openapi.from_dict(served_schema(), config=CONFIG)
schema.app = APP


# ---------------------------------------------------------------------------------------------------------
# Seeded data


@dataclass
class Seeded:
    """Values of what the seed made (ids, names, moments within its data), by kind; the identities' tokens."""

    values: dict[str, list[str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)


SEEDED = Seeded()


def _user(username: str, *roles: str, superuser: bool = False) -> Any:
    user = get_user_model().objects.create_user(username=username, is_superuser=superuser, is_staff=superuser)
    user.groups.add(*[Group.objects.get_or_create(name=role)[0] for role in roles])
    return user


def _executions(version_ids: list[UUID], now: datetime, count: int, prefix: str) -> list[dict[str, Any]]:
    """Reports over the last two days, in staging and production, with every status."""
    rows = []
    for index in range(count):
        status = ("success", "success", "success", "error", "timeout")[index % 5]
        row: dict[str, Any] = {
            "templateVersionId": str(version_ids[index % len(version_ids)]),
            "status": status,
            "responseTime": 100 + 37 * index,
            "environment": ("production", "staging")[index % 2],
            "timestamp": (now - timedelta(hours=index * 0.8)).isoformat(),
            "userId": f"user-{index % 7}",
            "input": {"inquiry": "How do I reset my password?"},
            "output": "To reset your password, please...",
            "provider": "claude",
            "tokenUsage": {"inputTokens": 15 + index, "outputTokens": 45, "totalTokens": 60 + index, "cost": 0.002},
            "metadata": {"region": ("eu-central-1", "us-east-1")[index % 2], "requestId": f"{prefix}-{index}"},
            "userSatisfaction": 1 + index % 5,
            "converted": index % 3 == 0,
        }
        if status != "success":
            row["error"] = {"type": "Timeout" if status == "timeout" else "RateLimit", "message": "upstream"}
        rows.append(row)
    return rows


def seed() -> Seeded:
    """What a server in use holds, made through the services as the API and the admin make it."""
    from abtesting.services import create_test, start_test
    from analytics.rollups import roll_up_pending
    from analytics.services import read_reports, record_executions
    from approvals.services import approve_stage, submit_for_approval
    from lifecycle.releases.rules.services import create_rule
    from lifecycle.releases.services import (
        create_template_live_in_development,
        create_version_live_in_development,
        deploy_version,
    )
    from templates_app.api.serializers import DefinitionInput

    author = _user("fuzz-author", "author")
    reviewers = {role: _user(f"fuzz-{role}", role) for role in ("technical", "qa", "security", "business")}
    deployer = _user("fuzz-deployer", "deployer")
    superuser = _user("fuzz-superuser", superuser=True)
    reader = _user("fuzz-reader")
    integration = _user("fuzz-integration", "integration")

    def template(name: str, **definition: Any) -> Any:
        return create_template_live_in_development(
            actor=author,
            name=name,
            description="Seeded for fuzzing",
            category="generation",
            tags=["support", "fuzz"],
            metadata={"author": "support-team", "changelog": "Initial version", "complexity": "low"},
            definition=DefinitionInput.fields_of(
                {
                    "provider": "claude",
                    "modelConfig": {"model": "claude-sonnet", "temperature": 0.2, "maxTokens": 500},
                    **definition,
                }
            ),
        )

    support = template("Customer Support Response", content=CONTENT, variables=VARIABLES)
    chat = template(
        "Support Chat",
        messages=[{"role": "system", "content": "You help customers."}, {"role": "user", "content": CONTENT}],
        variables=VARIABLES,
    )
    # Never executed, never submitted: the empty answers (issue 10, point 3).
    unused = template("Unused Template", content="Summarize: {{inquiry}}", variables=VARIABLES)
    first = support.latest_version
    second = create_version_live_in_development(
        actor=author, template_id=support.pk, definition={"content": CONTENT + " Be brief."}, metadata=None
    )
    # The first version approved for staging and live there; the second waits for production's first stage.
    approved = submit_for_approval(actor=author, version_id=first.pk, environment="staging")
    for index, role in enumerate(("technical", "qa")):
        approve_stage(actor=reviewers[role], request_id=approved.pk, stage_index=index, comment=f"{role} ok")
    deploy_version(actor=deployer, version_id=first.pk, environment="staging")
    # Then the second replaces it in staging, so that rollbacks there have a target (validate, initiate,
    # emergency reach past "nothing to roll back to"); a rule watches it.
    replacing = submit_for_approval(actor=author, version_id=second.pk, environment="staging")
    for index, role in enumerate(("technical", "qa")):
        approve_stage(actor=reviewers[role], request_id=replacing.pk, stage_index=index, comment=f"{role} ok")
    deploy_version(actor=deployer, version_id=second.pk, environment="staging")
    rule = create_rule(
        actor=deployer,
        template_id=support.pk,
        environment="staging",
        metric="success_rate",
        operator="lt",
        threshold=95,
        notify_webhook_url="https://hooks.example.com/fuzz",
    )
    # A/B tests of the two versions: one running in staging (both approved there), one draft for production
    # (not approved there: starting it is a 409), so that the A/B endpoints reach past "not found".
    variants = [
        {"id": "control", "template_version_id": first.pk, "traffic_percentage": 50},
        {"id": "variant-a", "template_version_id": second.pk, "traffic_percentage": 50},
    ]
    ab_running = create_test(
        actor=author, name="Seeded running test", template_id=support.pk, environment="staging", variants=variants
    )
    start_test(actor=deployer, test_id=ab_running.pk)
    ab_draft = create_test(actor=author, name="Seeded draft test", template_id=support.pk, variants=variants)
    pending = submit_for_approval(actor=author, version_id=second.pk, environment="production")
    waiting = submit_for_approval(actor=author, version_id=chat.latest_version.pk, environment="staging")
    # Composition (issue 14): a shared part in production, and a prompt built from it (pinned and unpinned),
    # with a newer part version in production so that it has an update (refreshIncludes makes a version).
    part = template("house-style", content="Answer in {{language}}, kindly.", variables=[LANGUAGE])
    part_production = submit_for_approval(actor=author, version_id=part.latest_version.pk, environment="production")
    for index, role in enumerate(("technical", "qa", "security", "business")):
        approve_stage(actor=reviewers[role], request_id=part_production.pk, stage_index=index, comment="ok")
    deploy_version(actor=deployer, version_id=part.latest_version.pk, environment="production")
    composed = template(
        "Composed Reply", content="{{> house-style}}\n{{> house-style@1.0.0}} {{inquiry}}", variables=VARIABLES
    )
    part_v2 = create_version_live_in_development(
        actor=author, template_id=part.pk, definition={"content": "Answer in {{language}}, briefly."}
    )

    now = datetime.now(UTC)
    record_executions(read_reports(_executions([first.pk, second.pk], now, 60, "support"), actor=integration))
    while roll_up_pending().executions:
        pass
    # Some stay pending (not rolled up yet): the queries read those raw.
    record_executions(read_reports(_executions([chat.latest_version.pk], now, 5, "chat"), actor=integration))

    return Seeded(
        values={
            "template": [str(support.pk), str(chat.pk), str(unused.pk), str(part.pk), str(composed.pk)],
            "version": [
                str(first.pk),
                str(second.pk),
                str(chat.latest_version.pk),
                str(unused.latest_version.pk),
                str(composed.latest_version.pk),
                str(part_v2.pk),
            ],
            # Texts that include parts: existing, pinned to a missing version, unknown, malformed.
            "text": [
                "{{> house-style}} {{inquiry}}",
                "{{> house-style@1.0.0}}\n{{> Composed Reply}} {{inquiry}}",
                "{{> house-style@9.9.9}} {{inquiry}}",
                "{{> nowhere}} {{> }} {{inquiry}}",
            ],
            "request": [str(approved.pk), str(pending.pk), str(waiting.pk)],
            "rule": [str(rule.pk)],
            "abtest": [str(ab_running.pk), str(ab_draft.pk)],
            "username": [author.username, reviewers["technical"].username, superuser.username, "nobody-here"],
            "execution_request": ["support-0", "support-1", "chat-0"],
            "template_name": [support.name, chat.name, unused.name],
            # Windows around the executions: before all, inside, after all; as clients spell them.
            "moment": [
                f"{now - timedelta(days=3):%Y-%m-%dT%H:%M:%SZ}",
                (now - timedelta(days=1)).isoformat(),
                (now - timedelta(hours=6)).astimezone(timezone(timedelta(hours=2))).isoformat(),
                f"{now + timedelta(minutes=5):%Y-%m-%dT%H:%M:%S.%fZ}",
            ],
        },
        tokens={
            "superuser": api_key_for(superuser),
            "reader": api_key_for(reader),
        },
    )


@pytest.fixture
def seeded(db: None) -> Iterator[Seeded]:
    made = seed()
    SEEDED.values, SEEDED.tokens = made.values, made.tokens
    yield made
    SEEDED.values, SEEDED.tokens = {}, {}


# ---------------------------------------------------------------------------------------------------------
# Seeded values into generated cases


# Where the seed's values go, by container and by the name of the path parameter, query parameter or body key
# (`^`: at the top of the body only, a template's name and not a variable's).
SEEDABLE: dict[str, dict[str, str]] = {
    "path_parameters": {
        "template_id": "template",
        "version_id": "version",
        "request_id": "request",
        "rule_id": "rule",
        "test_id": "abtest",
    },
    "query": {
        "templateId": "template",
        "versionId": "version",
        "against": "version",
        "currentVersionId": "version",
        "targetVersionId": "version",
        "approverId": "username",
        "startDate": "moment",
        "endDate": "moment",
    },
    "body": {
        "templateId": "template",
        "versionId": "version",
        "templateVersionId": "version",
        "currentVersionId": "version",
        "targetVersionId": "version",
        "requestId": "execution_request",
        "testId": "abtest",
        "abTestId": "abtest",
        "^name": "template_name",
        "content": "text",
    },
}
UUID_KINDS = {"template", "version", "request", "rule", "abtest"}
# How many cases in eight get a seeded value of each kind instead of the generated one: mostly, for ids and
# moments (past "not found" is where most of the code is); now and then, for a name or a request id (a
# duplicate: 409, or a repeated report).
SWAPPED_IN_8 = {"template_name": 1, "execution_request": 2, "username": 4, "text": 3}


def _fits(kind: str, value: Any) -> bool:
    """Whether a generated value may be swapped: an id only when it is a well-formed one, so that an id made
    invalid on purpose (a negative case) still tests the validation."""
    if not isinstance(value, str):
        return False
    if kind not in UUID_KINDS:
        return True
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def _slots(value: Any, names: dict[str, str], at: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every place in a JSON value that may take a seeded value: (its path, its kind)."""
    if isinstance(value, dict):
        for key, item in value.items():
            kind = names.get(str(key)) or (None if at else names.get(f"^{key}"))
            if kind is not None and _fits(kind, item):
                yield (*at, key), kind
            else:
                yield from _slots(item, names, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _slots(item, names, (*at, index))


def use_seeded_values(case: Any) -> dict[str, Any]:
    """Swap seedable values of the case (SWAPPED_IN_8) for the seed's, so that cases reach past "not found"
    and into real data; the containers as generated, which the caller puts back after the call.

    Chosen from the case's generated content, not drawn: coverage cases are made when the tests are
    collected, before the seed exists, and the same case must get the same values in every run (a failure
    replays and shrinks). Setting the containers makes Schemathesis revalidate the case, so a case that the
    swap made valid is no longer expected to be refused.
    """
    generated = {name: getattr(case, name) for name in SEEDABLE}
    # Many cases share one generated id: the choice depends on the whole case.
    salt = json.dumps(generated, sort_keys=True, default=lambda value: type(value).__name__)
    replaced = {}
    for name, names in SEEDABLE.items():
        value = deepcopy(generated[name])
        for path, kind in list(_slots(value, names)):
            pick = zlib.crc32(f"{salt} {path}".encode())
            values = SEEDED.values.get(kind)
            if values and pick % 8 < SWAPPED_IN_8.get(kind, 6):
                container = value
                for step in path[:-1]:
                    container = container[step]
                container[path[-1]] = values[pick % len(values)]
                replaced[name] = generated[name]
        if name in replaced:
            setattr(case, name, value)
    return replaced


# ---------------------------------------------------------------------------------------------------------
# The test


@dataclass
class Survey:
    """FUZZ_SURVEY: every distinct failure, instead of the first of each test."""

    failures: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, identity: str, case: Any, group: FailureGroup) -> None:
        tracebacks, answer = APP.exceptions, APP.bodies[0] if APP.bodies else b""
        for failure in group.exceptions:
            key = f"{case.operation.label} | {type(failure).__name__} | {getattr(failure, '_unique_key', '')}"
            key += f" | {_distinct_by(failure, answer, tracebacks)}"
            entry = self.failures.setdefault(
                key,
                {
                    "operation": case.operation.label,
                    "kind": type(failure).__name__,
                    "title": getattr(failure, "title", ""),
                    "message": str(getattr(failure, "message", failure))[:3000],
                    "curl": case.as_curl_command(),
                    "answer": answer[:500].decode(errors="replace"),
                    "traceback": tracebacks[-1][-4000:] if tracebacks else None,
                    "identities": [],
                    "count": 0,
                },
            )
            entry["count"] += 1
            if identity not in entry["identities"]:
                entry["identities"].append(identity)

    def write(self, path: str) -> None:
        merged: dict[str, Any] = {}
        if Path(path).exists():
            merged = json.loads(Path(path).read_text())
        for key, entry in self.failures.items():
            if key in merged:
                merged[key]["count"] += entry["count"]
                merged[key]["identities"] = sorted(set(merged[key]["identities"]) | set(entry["identities"]))
            else:
                merged[key] = entry
        Path(path).write_text(json.dumps(merged, indent=1, sort_keys=True))


SURVEYED = Survey()


def _distinct_by(failure: Exception, answer: bytes, tracebacks: list[str]) -> str:
    """What tells two failures of one kind apart: a server error's exception and the last line of our code
    it passed; an error answer's code; which part of an accepted request was invalid."""
    if tracebacks:
        frames = [line.strip() for line in tracebacks[-1].splitlines() if line.strip().startswith('File "')]
        ours = [frame for frame in frames if "/site-packages/" not in frame]
        return f"{tracebacks[-1].strip().splitlines()[-1].split(':')[0]} at {ours[-1] if ours else '?'}"
    message = str(getattr(failure, "message", ""))
    if "Invalid component" in message:
        return message[message.index("Invalid component") :].splitlines()[0]
    try:
        return str(json.loads(answer)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


@pytest.fixture(scope="module", autouse=True)
def _after_the_module() -> Iterator[None]:
    yield
    if SURVEY and SURVEYED.failures:
        SURVEYED.write(SURVEY)


@pytest.mark.parametrize("identity", ["superuser", "reader"])
@schema.parametrize()
@hypothesis.settings(
    # The database fixture is per test, not per case, on purpose: each case runs in its own savepoint. The
    # others judge generation speed, which a loaded CI machine makes fail at random.
    suppress_health_check=[
        hypothesis.HealthCheck.function_scoped_fixture,
        hypothesis.HealthCheck.too_slow,
        hypothesis.HealthCheck.filter_too_much,
        hypothesis.HealthCheck.data_too_large,
    ],
)
def test_api__fuzzed_from_its_schema__every_answer_as_documented(case: Any, identity: str, seeded: Seeded) -> None:
    # Given the seeded server and a caller with a token
    headers = {"Authorization": f"Token {seeded.tokens[identity]}"}
    generated = use_seeded_values(case)
    APP.exceptions.clear()
    APP.bodies.clear()
    try:
        # When the case is sent, in a savepoint undone afterwards
        with transaction.atomic():
            try:
                # Then every check holds
                case.call_and_validate(headers=headers)
            finally:
                transaction.set_rollback(True)
    except FailureGroup as group:
        if SURVEY:
            SURVEYED.add(identity, case, group)
            return
        if APP.exceptions:
            group.add_note("Server traceback:\n" + APP.exceptions[-1])
        raise
    finally:
        # A coverage case is one object, sent again in the other identity's test with its own seed.
        for name, value in generated.items():
            setattr(case, name, value)
