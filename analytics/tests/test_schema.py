"""Every answer of the executions and performance endpoints is the one the OpenAPI schema documents.

Real answers, empty and not, are validated against the component the generated schema names for their
status, strictly: every documented field present, no undocumented one.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from typing import Any

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

from lifecycle.testing.executions import random_reports, store
from lifecycle.testing.factories import ExecutionReportFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    """The schema as /api/schema/ serves it (its hooks included)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema, renderer_context={}))


def _strict(schema: Any) -> Any:
    """OpenAPI 3.0's schema as JSON Schema, and strict: `nullable` as a null alternative; every object with
    properties closed to others (drf-spectacular leaves them open)."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: _strict(value) for key, value in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema:
        schema["additionalProperties"] = False
    if schema.pop("nullable", False):
        described = {key: schema.pop(key) for key in ("description", "title") if key in schema}
        schema = {"anyOf": [schema, {"type": "null"}], **described}
    return schema


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def is_datetime(value: object) -> bool:  # ISO 8601 with a zone, as API.md says every timestamp is
        return not isinstance(value, str) or datetime.fromisoformat(value).utcoffset() is not None

    return checker


def assert_documented(openapi, path: str, method: str, response) -> None:
    """The answer validates against the schema documented for its operation and status."""
    operation = openapi["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method.upper()} {path} does not document {response.status_code}"
    schema = documented["content"]["application/json"]["schema"]
    assert "$ref" in schema, f"{method.upper()} {path} {response.status_code}: a free-form body, not a component"
    root = {**_strict(schema), "components": _strict(copy.deepcopy(openapi["components"]))}
    jsonschema.validate(response.json(), root, format_checker=_format_checker())


METRICS, ANALYTICS = "/api/performance/metrics", "/api/performance/analytics"


@pytest.fixture
def with_data(template, now):
    """Two weeks of varied reports (errors, regions, satisfaction): a forecast, every list filled."""
    version = template.latest_version
    store(random_reports([version], 400, start=now - timedelta(days=14), end=now - timedelta(seconds=1), seed=5))
    return version


def test_metrics__empty_and_with_data__as_documented(api, analyst, openapi, template, with_data):
    api.as_user(analyst)
    before = {"startDate": "2001-01-01T00:00:00Z", "endDate": "2001-02-01T00:00:00+01:00"}
    empty = api.get(METRICS, data={"versionId": str(with_data.pk), **before})
    full = api.get(METRICS, data={"versionId": str(with_data.pk), "environment": "production"})
    assert (empty.json()["totalExecutions"], full.json()["totalExecutions"] > 0) == (0, True)
    assert_documented(openapi, METRICS, "get", empty)
    assert_documented(openapi, METRICS, "get", full)


def test_analytics__empty_and_with_data__as_documented(api, analyst, openapi, template, with_data):
    api.as_user(analyst)
    empty = api.get(ANALYTICS, data={"templateId": str(template.pk), "environment": "development"})
    full = api.get(ANALYTICS, data={"templateId": str(template.pk)})
    assert empty.json()["totalExecutions"] == 0
    body = full.json()
    assert all(body[key] for key in ("byVersion", "byRegion", "errorAnalysis", "timeSeries"))
    assert body["forecast"]["available"] is True
    assert_documented(openapi, ANALYTICS, "get", empty)
    assert_documented(openapi, ANALYTICS, "get", full)


def test_analytics__hourly_and_forecast_unavailable__as_documented(api, analyst, openapi, template, now):
    store([ExecutionReportFactory(version=template.latest_version, timestamp=(now - timedelta(hours=2)).isoformat())])
    response = api.as_user(analyst).get(ANALYTICS, data={"templateId": str(template.pk), "granularity": "hour"})
    assert response.json()["forecast"]["available"] is False
    assert_documented(openapi, ANALYTICS, "get", response)


def test_record__stored_duplicate_and_batch__as_documented(api, integration, openapi, template):
    version = template.latest_version
    api.as_user(integration)
    failed = ExecutionReportFactory(
        version=version, status="error", metadata={"requestId": "r-1"}, error={"type": "Timeout"}
    )
    stored = api.post("/api/executions", failed)
    duplicate = api.post("/api/executions", failed)
    bare = api.post("/api/executions", {"templateVersionId": str(version.pk), "status": "success", "responseTime": 1})
    batch = api.post("/api/executions/batch", {"executions": [ExecutionReportFactory(version=version), failed]})
    assert [r.status_code for r in (stored, duplicate, bare, batch)] == [201, 200, 201, 201]
    for response in (stored, duplicate, bare):
        assert_documented(openapi, "/api/executions", "post", response)
    assert_documented(openapi, "/api/executions/batch", "post", batch)


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        (METRICS, {"versionId": "00000000-0000-0000-0000-000000000000"}, 404),
        (METRICS, {"versionId": "x", "startDate": "0001-01-01T00:00:00+14:00"}, 400),
        (ANALYTICS, {"templateId": "00000000-0000-0000-0000-000000000000"}, 404),
        (ANALYTICS, {"templateId": "template", "endDate": "9999-12-31T23:59:59-14:00"}, 400),
    ],
)
def test_query_errors__as_documented(api, analyst, openapi, path, params, status):
    response = api.as_user(analyst).get(path, data=params)
    assert response.status_code == status
    assert_documented(openapi, path, "get", response)


def test_query_errors__someone_else_s_numbers__403_as_documented(api, make_user, openapi, template):
    response = api.as_user(make_user("author")).get(ANALYTICS, data={"templateId": str(template.pk)})
    assert response.status_code == 403
    assert_documented(openapi, ANALYTICS, "get", response)


@pytest.mark.parametrize("path", [METRICS, ANALYTICS])
def test_window_parameters__documented_as_bounded_half_open_date_times(openapi, path):
    parameters = {parameter["name"]: parameter for parameter in openapi["paths"][path]["get"]["parameters"]}
    for name in ("startDate", "endDate"):
        assert parameters[name]["schema"] == {"type": "string", "format": "date-time"}
        assert "between 2000-01-01T00:00:00Z and 1 day after now" in parameters[name]["description"]
    assert "[startDate, endDate)" in parameters["startDate"]["description"]


def test_reports__the_servers_rules_documented(openapi):
    schemas = openapi["components"]["schemas"]
    report_schema, usage = schemas["ExecutionInputRequest"]["properties"], schemas["TokenUsageDocRequest"]["properties"]
    assert (report_schema["responseTime"]["minimum"], report_schema["responseTime"]["maximum"]) == (0, 3_600_000)
    assert (report_schema["userSatisfaction"]["minimum"], report_schema["userSatisfaction"]["maximum"]) == (1, 5)
    assert all(usage[name]["maximum"] == 10_000_000 for name in ("inputTokens", "outputTokens", "totalTokens"))
    assert usage["cost"]["maximum"] == 10_000
    assert "inputTokens + outputTokens" in usage["totalTokens"]["description"]
    assert "2000-01-01T00:00:00Z" in report_schema["timestamp"]["description"]
    executions = schemas["BatchInputRequest"]["properties"]["executions"]
    assert (executions["minItems"], executions["maxItems"]) == (1, 1000)
