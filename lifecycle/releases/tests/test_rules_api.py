"""/api/rollback/triggers and /api/alerts: who may do what, validation naming each bad field, presets, and
alerts with their evidence, which later edits of the rule do not rewrite."""

from __future__ import annotations

import pytest

from lifecycle.releases.rules.models import Alert, TriggerEvaluation, TriggerRule, TriggerState
from lifecycle.releases.tests.test_rules_helpers import clock_fixture, evaluations, live_fixture, live_template, report  # noqa: F401

pytestmark = pytest.mark.django_db

TRIGGERS = "/api/rollback/triggers"


@pytest.fixture
def template(create_template):
    return create_template()


def rule_body(template, **overrides):
    return {
        "templateId": str(template.pk),
        "environment": "production",
        "metric": "success_rate",
        "operator": "lt",
        "threshold": 95,
        **overrides,
    }


def patch(api, path, body):
    return api.client.patch(path, body, format="json")


def test_create__deployer__201_with_defaults_and_the_secret_once(api, deployer, template):
    response = api.as_user(deployer).post(TRIGGERS, rule_body(template, notify={"emails": ["oncall@example.com"]}))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["windowMinutes"], body["minExecutions"], body["consecutiveBreaches"], body["cooldownMinutes"]) == (
        15,
        100,
        3,
        60,
    )
    assert (body["baseline"], body["action"], body["enabled"], body["dryRun"], body["alpha"]) == (
        "absolute",
        "alert",
        True,
        False,
        None,
    )
    assert body["notify"] == {"emails": ["oncall@example.com"], "webhookUrl": None}
    assert body["description"] == (
        "success_rate < 95 % over 15m min 100 executions for 3 consecutive evaluations then alert cooldown 1h"
    )
    assert body["createdBy"] == deployer.username
    assert len(body["webhookSecret"]) >= 40
    # Shown once: the list and the rule's own page do not carry it
    listed = api.get(TRIGGERS).json()["results"][0]
    assert "webhookSecret" not in listed
    assert "webhookSecret" not in api.get(f"{TRIGGERS}/{body['id']}").json()


@pytest.mark.parametrize(("who", "status"), [("deployer", 201), ("superuser", 201), ("author", 403), ("reader", 403)])
def test_create__by_role__deployers_and_superusers_only(api, make_user, template, who, status):
    user = make_user(superuser=True) if who == "superuser" else make_user(*([] if who == "reader" else [who]))
    response = api.as_user(user).post(TRIGGERS, rule_body(template))
    assert response.status_code == status, response.json()
    assert TriggerRule.objects.count() == (1 if status == 201 else 0)


def test_read__anyone_signed_in__200_and_anonymous_401(api, deployer, reader, template):
    api.as_user(deployer).post(TRIGGERS, rule_body(template))
    assert api.as_user(reader).get(TRIGGERS).json()["count"] == 1
    assert api.as_user(reader).get(f"/api/alerts?templateId={template.pk}").status_code == 200
    assert api.anonymous().get(TRIGGERS).status_code == 401
    assert api.anonymous().get("/api/alerts").status_code == 401


def test_read__webhook_url__whole_for_deployers_only_its_host_for_others(api, deployer, reader, template):
    # Given a rule whose webhook URL carries the receiver's credentials (as chat webhooks do)
    url = "https://hooks.example.com/services/T000/B000/very-secret-token"
    created = api.as_user(deployer).post(TRIGGERS, rule_body(template, notify={"webhookUrl": url})).json()
    # Then deployers read it whole; everyone else reads its scheme and host only, in lists and alone
    assert api.as_user(deployer).get(f"{TRIGGERS}/{created['id']}").json()["notify"]["webhookUrl"] == url
    assert api.as_user(reader).get(f"{TRIGGERS}/{created['id']}").json()["notify"]["webhookUrl"] == (
        "https://hooks.example.com/..."
    )
    (listed,) = api.as_user(reader).get(TRIGGERS).json()["results"]
    assert listed["notify"]["webhookUrl"] == "https://hooks.example.com/..."
    assert "very-secret-token" not in api.as_user(reader).get(TRIGGERS).content.decode()


BAD_FIELDS = [
    ({"metric": "latency"}, "metric"),
    ({"operator": "eq"}, "operator"),
    ({"threshold": "95"}, "threshold"),
    ({"threshold": 120}, "threshold"),
    ({"threshold": 0}, "operator"),  # success rate is never below 0
    ({"metric": "error_rate", "operator": "gt", "threshold": 100}, "operator"),  # never above 100
    ({"metric": "p95_response_time", "operator": "gt", "threshold": -1}, "threshold"),
    ({"metric": "average_cost", "operator": "gt", "threshold": -0.5}, "threshold"),
    ({"metric": "average_satisfaction", "operator": "lt", "threshold": 6}, "threshold"),
    ({"metric": "average_satisfaction", "operator": "lt", "threshold": 1}, "operator"),
    ({"baseline": "previous_version", "threshold": 0}, "threshold"),
    ({"baseline": "previous_version", "operator": "gt", "threshold": -50}, "threshold"),
    ({"baseline": "previous_version", "operator": "lt", "threshold": 100}, "threshold"),
    ({"metric": "daily_cost", "operator": "gt", "threshold": 10, "baseline": "previous_version"}, "baseline"),
    ({"metric": "daily_cost", "operator": "gt", "threshold": 10, "windowMinutes": 60}, "windowMinutes"),
    ({"baseline": "yesterday"}, "baseline"),
    ({"windowMinutes": 0}, "windowMinutes"),
    ({"windowMinutes": 1441}, "windowMinutes"),
    ({"windowMinutes": 15.5}, "windowMinutes"),
    ({"minExecutions": 0}, "minExecutions"),
    ({"consecutiveBreaches": 0}, "consecutiveBreaches"),
    ({"consecutiveBreaches": 101}, "consecutiveBreaches"),
    ({"cooldownMinutes": -1}, "cooldownMinutes"),
    ({"cooldownMinutes": 10081}, "cooldownMinutes"),
    ({"action": "page"}, "action"),
    ({"enabled": "yes"}, "enabled"),
    ({"alpha": 0.5}, "alpha"),
    ({"notify": {"webhookUrl": "ftp://hooks.example.com/x"}}, "notify.webhookUrl"),
    ({"notify": {"webhookUrl": "javascript:alert(1)"}}, "notify.webhookUrl"),
    ({"notify": {"emails": ["not an address"]}}, "notify.emails"),
    ({"environment": "prod"}, "environment"),
    ({"templateId": "0b5c3e4e-2f5d-4c38-9a51-3c8f2a7d9e10"}, "templateId"),
    ({"templateId": "not-an-id"}, "templateId"),
]


@pytest.mark.parametrize(("overrides", "field"), BAD_FIELDS)
def test_create__bad_field__400_naming_it_and_nothing_stored(api, deployer, template, overrides, field):
    response = api.as_user(deployer).post(TRIGGERS, rule_body(template, **overrides))
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert any(path == field or path.startswith(f"{field}[") for path in error["fields"]), error
    assert not TriggerRule.objects.exists()


def test_create__missing_fields__each_named(api, deployer):
    response = api.as_user(deployer).post(TRIGGERS, {"environment": "production"})
    assert response.status_code == 400
    assert {"templateId", "metric", "operator", "threshold"} <= set(response.json()["error"]["fields"])


def test_create__several_bad_fields__all_named(api, deployer, template):
    body = rule_body(template, threshold=150, windowMinutes=5000, notify={"webhookUrl": "file:///etc/passwd"})
    response = api.as_user(deployer).post(TRIGGERS, body)
    assert response.status_code == 400
    # The serializer's bounds first (windowMinutes), then the whole rule's: each fix gets the next answer
    assert "windowMinutes" in response.json()["error"]["fields"]
    body["windowMinutes"] = 5
    fields = api.post(TRIGGERS, body).json()["error"]["fields"]
    assert {"threshold", "notify.webhookUrl"} <= set(fields)


def test_list__filtered_by_template__and_its_query_count_does_not_grow(
    api, deployer, reader, create_template, django_assert_num_queries
):
    first, second = create_template(), create_template()
    client = api.as_user(deployer)
    for template in (first, first, second):
        assert client.post(TRIGGERS, rule_body(template)).status_code == 201
    listed = api.as_user(reader).get(f"{TRIGGERS}?templateId={first.pk}").json()
    assert listed["count"] == 2
    assert {rule["templateId"] for rule in listed["results"]} == {str(first.pk)}
    assert api.get(f"{TRIGGERS}?templateId=nope").status_code == 400
    with django_assert_num_queries(3):  # the token with its user, the count, the page
        api.get(TRIGGERS)
    api.as_user(deployer)
    for _ in range(5):
        assert api.post(TRIGGERS, rule_body(second)).status_code == 201
    api.as_user(reader)
    with django_assert_num_queries(3):
        assert api.get(TRIGGERS).json()["count"] == 8


def test_patch__deployer__changes_only_what_is_given_and_keeps_history(api, deployer, template):
    client = api.as_user(deployer)
    rule_id = client.post(TRIGGERS, rule_body(template, cooldownMinutes=30)).json()["id"]
    response = patch(
        client, f"{TRIGGERS}/{rule_id}", {"threshold": 97.5, "notify": {"webhookUrl": "https://h.example.com/a"}}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["threshold"], body["cooldownMinutes"], body["notify"]["webhookUrl"]) == (
        97.5,
        30,
        "https://h.example.com/a",
    )
    rule = TriggerRule.objects.get(pk=rule_id)
    assert [record.threshold for record in rule.history.order_by("history_id")] == [95.0, 97.5]
    assert rule.history.latest().history_user == deployer


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"threshold": 101}, "threshold"),
        ({"metric": "average_satisfaction"}, "threshold"),  # the rule's gt 99 is beyond satisfaction's 5
        ({"environment": "staging"}, "environment"),
        ({"windowMinutes": -3}, "windowMinutes"),
    ],
)
def test_patch__bad_field__400_naming_it_and_unchanged(api, deployer, template, body, field):
    client = api.as_user(deployer)
    rule_id = client.post(TRIGGERS, rule_body(template, metric="success_rate", operator="gt", threshold=99)).json()[
        "id"
    ]
    response = patch(client, f"{TRIGGERS}/{rule_id}", body)
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    rule = TriggerRule.objects.get(pk=rule_id)
    assert (rule.threshold, rule.metric, rule.environment, rule.history.count()) == (
        99.0,
        "success_rate",
        "production",
        1,
    )


def test_patch_and_delete__not_a_deployer__403_and_unchanged(api, deployer, author, template):
    rule_id = api.as_user(deployer).post(TRIGGERS, rule_body(template)).json()["id"]
    client = api.as_user(author)
    assert patch(client, f"{TRIGGERS}/{rule_id}", {"enabled": False}).status_code == 403
    assert client.client.delete(f"{TRIGGERS}/{rule_id}").status_code == 403
    assert TriggerRule.objects.get(pk=rule_id).enabled is True


def test_patch_and_delete__unknown_rule__404(api, deployer):
    client = api.as_user(deployer)
    unknown = "0b5c3e4e-2f5d-4c38-9a51-3c8f2a7d9e10"
    assert patch(client, f"{TRIGGERS}/{unknown}", {"enabled": False}).status_code == 404
    assert client.client.delete(f"{TRIGGERS}/{unknown}").status_code == 404
    assert client.get(f"{TRIGGERS}/not-an-id").status_code == 404


def test_presets__created_disabled_as_alerts_once(api, deployer, template):
    client = api.as_user(deployer)
    response = client.post(f"{TRIGGERS}/presets", {"templateId": str(template.pk), "environment": "production"})
    assert response.status_code == 201, response.json()
    made = response.json()
    # Without a budget, no daily-cost alert
    assert {(rule["metric"], rule["operator"], rule["threshold"], rule["baseline"]) for rule in made} == {
        ("success_rate", "lt", 95.0, "absolute"),
        ("p95_response_time", "gt", 5000.0, "absolute"),
        ("error_rate", "gt", 50.0, "previous_version"),
    }
    assert all(rule["enabled"] is False and rule["action"] == "alert" for rule in made)
    # With one: only the missing alert is made
    again = client.post(
        f"{TRIGGERS}/presets", {"templateId": str(template.pk), "environment": "production", "dailyCostBudget": 25}
    ).json()
    assert [(rule["metric"], rule["threshold"], rule["windowMinutes"], rule["enabled"]) for rule in again] == [
        ("daily_cost", 25.0, 1440, False)
    ]
    assert TriggerRule.objects.filter(template=template, enabled=False).count() == 4


def test_presets__not_a_deployer_or_unknown_template__refused(api, deployer, author, template):
    body = {"templateId": str(template.pk), "environment": "production"}
    assert api.as_user(author).post(f"{TRIGGERS}/presets", body).status_code == 403
    unknown = {**body, "templateId": "0b5c3e4e-2f5d-4c38-9a51-3c8f2a7d9e10"}
    response = api.as_user(deployer).post(f"{TRIGGERS}/presets", unknown)
    assert response.status_code == 400
    assert "templateId" in response.json()["error"]["fields"]
    negative = api.post(f"{TRIGGERS}/presets", {**body, "dailyCostBudget": -5})
    assert negative.status_code == 400
    assert "dailyCostBudget" in negative.json()["error"]["fields"]
    assert not TriggerRule.objects.exists()


# --- Alerts


def fire(live, minute: int, **fields):
    """A rule that fires at `minute`: every execution of the minute before it fails."""
    rule = live.rule(
        **{"metric": "success_rate", "operator": "lt", "threshold": 95, "window_minutes": 1, "min_executions": 10,
           "consecutive_breaches": 1, "cooldown_minutes": 0, **fields}
    )  # fmt: skip
    report(live.version, 20, start=live.minute(minute - 1), end=live.minute(minute), failures=20)
    live.evaluate(minute)
    return rule


def test_alerts__newest_first_with_evidence_and_filtered_by_template(api, reader, live, author, deployer):
    other = live_template(author, deployer)
    fire(live, 1)
    fire(other, 2)
    fire(live, 3)
    body = api.as_user(reader).get("/api/alerts").json()
    assert body["count"] == 3
    fired = [alert["firedAt"] for alert in body["results"]]
    assert fired == sorted(fired, reverse=True)
    mine = api.get(f"/api/alerts?templateId={live.template.pk}").json()["results"]
    assert [alert["templateId"] for alert in mine] == [str(live.template.pk)] * 2
    alert = mine[0]
    assert (alert["action"], alert["outcome"], alert["version"], alert["environment"]) == (
        "alert",
        "alerted",
        live.version.number,
        "development",
    )
    assert alert["summary"] == (
        "success_rate < 95 % over 1m (observed 0 %, 20 executions) for 1 consecutive evaluation"
    )
    (evaluation,) = alert["evidence"]["evaluations"]
    assert (evaluation["status"], evaluation["decision"], evaluation["observed"], evaluation["executions"]) == (
        "breach",
        "fire",
        0.0,
        20,
    )


def test_alerts__query_count_does_not_grow_with_the_list(api, reader, live, django_assert_num_queries):
    fire(live, 1)
    api.as_user(reader)
    with django_assert_num_queries(3):  # the token with its user, the count, the page
        api.get("/api/alerts")
    fire(live, 2)
    fire(live, 3)
    with django_assert_num_queries(3):
        assert api.get("/api/alerts").json()["count"] == 3


def test_evidence__rule_edited_then_deleted__evaluations_and_alert_say_what_it_was(api, deployer, live):
    rule = fire(live, 1)
    client = api.as_user(deployer)
    # When the rule is edited, then deleted
    assert patch(client, f"{TRIGGERS}/{rule.pk}", {"threshold": 50, "windowMinutes": 30}).status_code == 200
    assert client.client.delete(f"{TRIGGERS}/{rule.pk}").status_code == 204
    # Then its evaluation still reads the rule as it was, and so does its alert
    (evaluation,) = evaluations(rule)
    assert (evaluation.rule_history.threshold, evaluation.rule_history.window_minutes) == (95.0, 1)
    assert evaluation.rule_history.history_type == "+"
    (alert,) = api.get("/api/alerts").json()["results"]
    assert alert["rule"].startswith("success_rate < 95 % over 1m")
    assert alert["evidence"]["rule"].startswith("success_rate < 95 % over 1m")
    assert alert["evidence"]["ruleHistoryId"] == evaluation.rule_history_id
    assert not TriggerRule.objects.filter(pk=rule.pk).exists()
    assert TriggerEvaluation.objects.filter(rule_id=rule.pk).count() == 1
    assert Alert.objects.count() == 1


def test_patch__definition_changed__streak_restarts(api, deployer, live):
    rule = live.rule(
        metric="success_rate", operator="lt", threshold=95, window_minutes=1, min_executions=10, consecutive_breaches=3
    )
    report(live.version, 20, start=live.minute(0), end=live.minute(1), failures=20)
    live.evaluate(1)
    assert TriggerState.objects.get(rule=rule).streak == 1
    patch(api.as_user(deployer), f"{TRIGGERS}/{rule.pk}", {"threshold": 90})
    assert TriggerState.objects.get(rule=rule).streak == 0
    # An edit of who is told does not restart it
    report(live.version, 20, start=live.minute(1), end=live.minute(2), failures=20)
    live.evaluate(2)
    patch(api, f"{TRIGGERS}/{rule.pk}", {"notify": {"emails": ["a@example.com"]}})
    assert TriggerState.objects.get(rule=rule).streak == 1
