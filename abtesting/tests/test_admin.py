"""A/B tests in the admin: listed read-only with their variants and history; the list's actions go through
abtesting.services (the same rules as the API: a refusal is a message, nothing changes)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from abtesting.models import ABTest
from abtesting.results import results_for
from abtesting.services import create_test, start_test
from abtesting.tests.test_results import rows_for
from lifecycle.releases.selectors import active_deployments_of
from lifecycle.testing.executions import store

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


# Results and promotion (lifecycle.releases.admin.abtests registers the page with promotion)


@pytest.fixture
def measured(subject, runner):
    """A test on conversion, started, with 300 executions per variant reported as render served them: the
    variant converts at 50 %, the control at 20 %."""
    draft = create_test(
        actor=subject.author,
        **subject.service_payload(
            environment="development",
            success_metrics=[{"name": "conversion", "type": "conversion_rate", "target": None, "weight": 1}],
        ),
    )
    start_test(actor=runner, test_id=draft.pk)
    ABTest.objects.filter(pk=draft.pk).update(started_at=timezone.now() - timedelta(hours=2))
    now = timezone.now()
    start = now - timedelta(hours=1)
    rows = rows_for(subject.versions[0], 300, start=start, end=now, conversion=0.2, test=draft, seed=1)
    rows += rows_for(subject.versions[1], 300, start=start, end=now, conversion=0.5, test=draft, seed=2)
    store(rows)
    return ABTest.objects.get(pk=draft.pk)


@pytest.fixture
def analyst_deployer(make_user):
    return make_user("analyst", "deployer", username="analyst-deployer")


def test_detail__running_test_for_an_analyst__results_with_a_promote_link_per_variant(measured, analyst_deployer):
    page = signed_in(analyst_deployer).get(f"{TESTS}{measured.pk}/change/").content.decode()
    # The figures are those of the API's results
    expected = results_for(actor=analyst_deployer, test_id=measured.pk)
    assert expected["winner"] == "variant-a"
    assert 'id="variant-results"' in page
    assert '<b id="winner">variant-a</b>' in page
    assert expected["recommendation"]["reason"] in page
    for row in expected["variantResults"]:
        assert f"<td>{row['executions']}</td>" in page
        assert f"{row['conversionRate']:.2f}" in page
    assert 'id="comparison-variant-a-conversion"' in page
    assert 'id="promote-control"' in page
    assert 'id="promote-variant-a"' in page


def test_list__running_test__its_recommendation_and_winner(measured, analyst_deployer):
    page = signed_in(analyst_deployer).get(TESTS).content.decode()
    assert "ship, winner variant-a (600 executions)" in page


def test_detail__deployer__reads_the_results_and_is_offered_promotion(measured, runner):
    page = signed_in(runner).get(f"{TESTS}{measured.pk}/change/").content.decode()
    assert 'id="variant-results"' in page  # deployers read every template's numbers (issue 15)
    assert 'id="promote-variant-a"' in page


def test_detail__author_who_does_not_maintain_the_template__told_why_no_numbers(measured, make_user):
    page = signed_in(make_user("author")).get(f"{TESTS}{measured.pk}/change/").content.decode()
    assert 'id="results-refused"' in page
    assert 'id="variant-results"' not in page


def test_detail__author__no_promote_link(measured, subject, make_user):
    page = signed_in(subject.author).get(f"{TESTS}{measured.pk}/change/").content.decode()
    assert 'id="variant-results"' in page  # the author maintains the template: reads its numbers
    assert "promote-" not in page


def test_promote__confirmed__the_variant_serves_and_the_test_is_completed_with_it(measured, subject, runner):
    client = signed_in(runner)
    url = f"{TESTS}{measured.pk}/promote/"
    # The confirmation page says what changes, and changes nothing
    confirm = client.get(url, {"variant": "variant-a"})
    assert confirm.status_code == 200
    assert "Promote variant-a" in confirm.content.decode()
    assert ABTest.objects.get(pk=measured.pk).state == "running"
    # Confirmed: through the service, as the API
    response = client.post(url, {"variant": "variant-a", "confirm": "yes"}, follow=True)
    assert any("variant-a promoted" in message for message in said(response))
    test = ABTest.objects.get(pk=measured.pk)
    assert (test.state, test.winner) == ("completed", "variant-a")
    assert test.history.first().history_user == runner
    active = active_deployments_of(test.template_id)["development"]
    assert active.version_id == subject.versions[1].pk


def test_promote__author__refused_nothing_changes(measured, subject):
    response = signed_in(subject.author).post(
        f"{TESTS}{measured.pk}/promote/", {"variant": "variant-a", "confirm": "yes"}, follow=True
    )
    assert any("was not promoted" in message for message in said(response))
    assert ABTest.objects.get(pk=measured.pk).state == "running"


@pytest.mark.parametrize("variant", ["variant-z", ""])
def test_promote__not_a_variant_of_the_test__message_nothing_changes(measured, runner, variant):
    response = signed_in(runner).post(
        f"{TESTS}{measured.pk}/promote/", {"variant": variant, "confirm": "yes"}, follow=True
    )
    assert any("has no variant" in message for message in said(response))
    assert ABTest.objects.get(pk=measured.pk).state == "running"


def test_promote__completed_test__not_offered_and_refused(measured, runner):
    client = signed_in(runner)
    act(client, "stop", measured)
    assert "promote-" not in client.get(f"{TESTS}{measured.pk}/change/").content.decode()
    assert client.get(f"{TESTS}{measured.pk}/promote/", {"variant": "variant-a"}).status_code == 302
    response = client.post(f"{TESTS}{measured.pk}/promote/", {"variant": "variant-a", "confirm": "yes"}, follow=True)
    assert any("was not promoted" in message for message in said(response))
    assert ABTest.objects.get(pk=measured.pk).winner == ""


def test_promote__unknown_test__404(runner):
    assert signed_in(runner).get(f"{TESTS}00000000-0000-0000-0000-000000000000/promote/").status_code == 404
    assert signed_in(runner).get(f"{TESTS}nope/promote/").status_code == 404
