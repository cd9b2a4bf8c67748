"""Hand-written statements stay visible to Django's execute wrappers, which APM tools install to see queries."""

from __future__ import annotations

import pytest
from django.db import connection

from lifecycle.releases.selectors import active_version_id

pytestmark = pytest.mark.django_db


def test_hot_path_lookup__execute_wrapper_installed__sees_the_query(create_template):
    # Given an execute wrapper, as an APM tool installs one
    template = create_template()
    seen = []

    def spy(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    # When the render path's hand-written lookup runs
    with connection.execute_wrapper(spy):
        found = active_version_id(template.pk, "development")
    # Then the wrapper saw it, and the answer is unchanged
    assert found == template.latest_version_id
    assert any("releases_deployment" in sql for sql in seen), seen


def test_bulk_insert__execute_wrapper_installed__sees_the_statement(integration, version):
    from analytics.services import read_reports, record_executions
    from lifecycle.testing.factories import ExecutionReportFactory

    seen = []

    def spy(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        recorded = record_executions(read_reports([ExecutionReportFactory(version=version)], actor=integration))
    assert len(recorded.created) == 1
    assert any(sql.startswith("INSERT INTO") and "analytics_execution" in sql for sql in seen), seen
