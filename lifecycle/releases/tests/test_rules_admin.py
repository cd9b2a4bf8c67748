"""Rules in the admin: deployers and superusers add, edit and delete them through the rules' services (the
same validation and history as the API); others cannot open them; evaluations and alerts are read-only."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from lifecycle.releases.rules.models import TriggerRule, TriggerState
from lifecycle.releases.rules.services import create_rule
from lifecycle.releases.tests.test_rules_actions import breach_twice
from lifecycle.releases.tests.test_rules_helpers import clock_fixture, live_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

RULES = "/admin/releases/triggerrule/"


def staff(username: str, *roles: str) -> Client:
    """A signed-in admin user made the README's way (create_api_token makes them staff)."""
    call_command("create_api_token", username, "--groups", ",".join(roles), stdout=io.StringIO(), stderr=io.StringIO())
    client = Client()
    client.user = get_user_model().objects.get(username=username)  # type: ignore[attr-defined]
    client.force_login(client.user)  # type: ignore[attr-defined]
    return client


def form(template, **overrides):
    return {
        "template": str(template.pk),
        "environment": "production",
        "metric": "success_rate",
        "operator": "lt",
        "threshold": "95",
        "baseline": "absolute",
        "window_minutes": "15",
        "min_executions": "100",
        "consecutive_breaches": "3",
        "cooldown_minutes": "60",
        "action": "rollback",
        "enabled": "on",
        "require_significance": "on",
        "alpha": "",
        "emails": "oncall@example.com\n\nlead@example.com\n",
        "notify_webhook_url": "",
        **overrides,
    }


def a_rule(template, actor):
    return create_rule(
        actor=actor, template_id=template.pk, environment="production", metric="error_rate", operator="gt", threshold=5
    )


@pytest.fixture
def template(create_template):
    return create_template()


def test_add__deployer__created_through_the_service_with_its_history(template):
    client = staff("dep", "deployer")
    response = client.post(f"{RULES}add/", form(template))
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = TriggerRule.objects.get()
    assert (rule.metric, rule.threshold, rule.action, rule.enabled) == ("success_rate", 95.0, "rollback", True)
    assert rule.notify_emails == ["oncall@example.com", "lead@example.com"]
    assert rule.created_by.username == "dep"
    assert rule.history.get().history_user.username == "dep"
    assert TriggerState.objects.filter(rule=rule).exists()  # made by the service


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"threshold": "120"}, "threshold"),
        ({"threshold": "0"}, "operator"),
        ({"metric": "daily_cost", "operator": "gt", "threshold": "5", "baseline": "previous_version"}, "baseline"),
        ({"notify_webhook_url": "ftp://example.com/hook"}, "notify_webhook_url"),
        ({"emails": "not an address"}, "emails"),
        ({"window_minutes": "5000"}, "window_minutes"),
    ],
)
def test_add__invalid__the_services_refusal_on_its_field_and_nothing_saved(template, overrides, field):
    client = staff("dep", "deployer")
    response = client.post(f"{RULES}add/", form(template, **overrides))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not TriggerRule.objects.exists()


def test_change__deployer__through_the_service_with_template_and_environment_fixed(template, deployer):
    rule = a_rule(template, deployer)
    client = staff("dep", "deployer")
    page = client.get(f"{RULES}{rule.pk}/change/").content.decode()
    assert "error_rate &gt; 5 % over 15m" in page
    data = form(template, metric="error_rate", operator="gt", threshold="7.5", action="alert")
    del data["template"], data["environment"]
    response = client.post(f"{RULES}{rule.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    rule.refresh_from_db()
    assert (rule.threshold, rule.environment) == (7.5, "production")
    assert [record.history_user.username for record in rule.history.order_by("history_id")] == ["deployer", "dep"]


def test_delete__deployer__through_the_service(template, deployer):
    rule = a_rule(template, deployer)
    client = staff("dep", "deployer")
    response = client.post(f"{RULES}{rule.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not TriggerRule.objects.exists()
    assert TriggerRule.history.filter(id=rule.pk, history_type="-").get().history_user.username == "dep"


@pytest.mark.parametrize("roles", [("author",), ("technical",), ("analyst",)])
def test_rules_pages__not_a_deployer__refused(template, roles):
    client = staff("someone", *roles)
    assert client.get(RULES).status_code == 403
    assert client.get(f"{RULES}add/").status_code == 403
    assert client.post(f"{RULES}add/", form(template)).status_code == 403
    assert client.get("/admin/releases/alert/").status_code == 403
    assert not TriggerRule.objects.exists()


def test_index__deployer_sees_rules_evaluations_and_alerts():
    page = staff("dep", "deployer").get("/admin/").content.decode()
    for path in ("triggerrule", "triggerevaluation", "alert"):
        assert f"/admin/releases/{path}/" in page
    assert "/admin/releases/triggerrule/" not in staff("someone", "author").get("/admin/").content.decode()


def test_admin_login_page__not_signed_in__200_and_the_rules_not_listed():
    # The login page asks every admin class whether to list its model, before anyone signed in
    client = Client()
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert "Trigger rules" not in response.content.decode()
    assert client.get(RULES).status_code == 302  # to the login page


def test_alert_page__automatic_rollback__links_the_rollback_and_shows_the_evidence(live):
    # Given a rollback rule that rolled version 2 back to version 1
    second = live.next_version()
    _, result = breach_twice(second, action="rollback")
    (alert,) = result.alerts
    client = staff("dora", "deployer")
    # When a deployer opens the alert
    page = client.get(f"/admin/releases/alert/{alert.pk}/change/").content.decode()
    # Then it links the rollback, named by its template, and shows the breaching evaluations
    assert f"/admin/releases/rollback/{alert.rollback_id}/change/" in page
    assert f"automatic rollback of {live.template.name} in development" in page
    assert "&quot;decision&quot;: &quot;fire&quot;" in page
