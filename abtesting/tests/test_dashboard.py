"""The dashboard's A/B test page through Django's test client: who may open it, and a test with nothing
reported yet (the browser tests in lifecycle/tests/test_dashboard_browser.py draw one with executions)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from abtesting.dashboard import REFRESH_SECONDS
from abtesting.models import ABTest
from abtesting.services import create_test, start_test
from lifecycle.testing.dashboard import signed_in


def page_of(test: ABTest) -> str:
    return f"/dashboard/abtests/{test.pk}/"


@pytest.fixture
def draft(subject: Any) -> ABTest:
    return create_test(actor=subject.author, **subject.service_payload())


def test_abtest_page__draft_without_executions__zeros_no_interval_chart_no_refresh(draft, subject):
    # Given a test not started, nothing reported: when its author opens its page
    response = signed_in(subject.author).get(page_of(draft))
    # Then it answers with zeros and nothing to draw or refresh
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>draft</strong>" in html
    assert html.count('data-figure="executions">0<') == 2  # control and variant-a
    assert 'id="interval-charts"' not in html  # no estimate to draw
    assert "data-refresh" not in html
    assert "Sample ratio: not checked yet" in html


def test_abtest_page__running__reloads_itself(approved_in_production, runner):
    # Given a running test: when a deployer opens its page
    test = create_test(actor=approved_in_production.author, **approved_in_production.service_payload())
    start_test(actor=runner, test_id=test.pk)
    response = signed_in(runner).get(page_of(test))
    # Then the page asks to be reloaded while it runs
    assert response.status_code == 200
    assert f'data-refresh="{REFRESH_SECONDS}"' in response.content.decode()


def test_abtest_page__readers__analysts_and_maintainers_yes_other_authors_403_unknown_404_anonymous_sign_in(
    draft, make_user
):
    assert signed_in(make_user("analyst")).get(page_of(draft)).status_code == 200
    assert signed_in(make_user("author")).get(page_of(draft)).status_code == 403  # not their template
    assert signed_in(make_user("analyst")).get(f"/dashboard/abtests/{uuid.uuid4()}/").status_code == 404
    anonymous = Client().get(page_of(draft))
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/dashboard/login/?next=")
