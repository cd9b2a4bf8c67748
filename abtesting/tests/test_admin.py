"""A/B tests in the admin: listed read-only with their variants and history; the list's actions go through
abtesting.services (the same rules as the API: a refusal is a message, nothing changes)."""

from __future__ import annotations

import pytest
from django.test import Client

from abtesting.models import ABTest
from abtesting.services import create_test, start_test

pytestmark = pytest.mark.django_db

TESTS = "/admin/abtesting/abtest/"


def signed_in(user):
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def draft(subject):
    return create_test(actor=subject.author, **subject.service_payload(environment="development"))


def act(client, verb, *tests):
    return client.post(
        TESTS, {"action": f"{verb}_tests", "_selected_action": [str(test.pk) for test in tests]}, follow=True
    )


def said(response):
    return [str(message) for message in response.context["messages"]]


def test_list__deployer__tests_with_state_template_environment(draft, runner):
    response = signed_in(runner).get(TESTS)
    assert response.status_code == 200
    page = response.content.decode()
    assert draft.name in page
    assert draft.template.name in page
    assert "development" in page
    assert "draft" in page


def test_detail__variants_inline_read_only(draft, runner):
    response = signed_in(runner).get(f"{TESTS}{draft.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "variant-a" in page
    assert "1.0.1" in page
    assert 'name="name"' not in page  # no form field: read-only
    assert signed_in(runner).post(f"{TESTS}{draft.pk}/change/", {"name": "renamed"}).status_code == 403
    assert ABTest.objects.get(pk=draft.pk).name == draft.name


def test_history__page_lists_the_changes(draft, runner):
    start_test(actor=runner, test_id=draft.pk)
    response = signed_in(runner).get(f"{TESTS}{draft.pk}/history/")
    assert response.status_code == 200
    assert runner.username in response.content.decode()


def test_actions__deployer__start_pause_stop_through_the_services(draft, runner):
    client = signed_in(runner)
    response = act(client, "start", draft)
    assert ABTest.objects.get(pk=draft.pk).state == "running"
    assert any("started" in message for message in said(response))
    act(client, "pause", draft)
    assert ABTest.objects.get(pk=draft.pk).state == "paused"
    act(client, "stop", draft)
    test = ABTest.objects.get(pk=draft.pk)
    assert test.state == "completed"
    assert test.history.first().history_user == runner


def test_actions__cancel_a_draft__cancelled(draft, runner):
    act(signed_in(runner), "cancel", draft)
    assert ABTest.objects.get(pk=draft.pk).state == "cancelled"


def test_actions__illegal_transition__message_and_unchanged(draft, runner):
    response = act(signed_in(runner), "pause", draft)
    assert ABTest.objects.get(pk=draft.pk).state == "draft"
    assert any(draft.name in message and "not paused" in message for message in said(response))


def test_actions__second_running_test__refused_with_a_message(subject, draft, runner):
    other = create_test(actor=runner, **subject.service_payload(environment="development", name="Other"))
    start_test(actor=runner, test_id=draft.pk)
    response = act(signed_in(runner), "start", other)
    assert ABTest.objects.get(pk=other.pk).state == "draft"
    assert any("Other" in message and "runs in development" in message for message in said(response))


def test_actions__author__offered_cancel_only_and_start_refused(subject, draft):
    client = signed_in(subject.author)
    page = client.get(TESTS).content.decode()
    assert "cancel_tests" in page
    assert "start_tests" not in page
    # An action not offered is refused by Django, and the service would refuse it too.
    client.post(TESTS, {"action": "start_tests", "_selected_action": [str(draft.pk)]})
    assert ABTest.objects.get(pk=draft.pk).state == "draft"


def test_list__reviewer_without_the_permission__403(draft, make_user):
    assert signed_in(make_user("technical")).get(TESTS).status_code == 403


def test_index__signed_out__redirected_to_login(draft):
    response = Client().get(TESTS)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
