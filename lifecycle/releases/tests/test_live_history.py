"""What was live where, over time: GET /api/templates/{id}/deployments, GET /api/rollback/history, and
rollbacks in the admin."""

from __future__ import annotations

import itertools

import pytest
from django.test import Client

from lifecycle.releases.models import Rollback
from lifecycle.releases.services import (
    create_version_live_in_development,
    initiate_rollback,
    roll_back_automatically,
    roll_back_in_emergency,
)
from lifecycle.releases.tests.conftest import approve_for

pytestmark = pytest.mark.django_db

UNKNOWN = "00000000-0000-0000-0000-000000000000"


def deployments(api, user, template, **query):
    return api.as_user(user).get(f"/api/templates/{template.pk}/deployments", data=query)


def test_deployments__newest_first_how_who_when_and_why(api, served, reader):
    _, previous, current = served.versions
    # Given 1.0.0, 1.0.1, 1.0.2 deployed in turn; 1.0.2 rolled back to 1.0.1; 1.0.2 deployed again
    rollback = initiate_rollback(
        actor=served.deployer,
        current_version_id=current.pk,
        target_version_id=previous.pk,
        reason="Slow answers",
    )
    served.deploy(current)
    # When anyone signed in reads production's deployments
    response = deployments(api, reader, served.template, environment="production")
    assert response.status_code == 200
    rows = response.json()["results"]
    # Then every one, newest first, says how it became active, who, from when to when, and why
    assert [(row["version"], row["kind"], row["status"], row["reason"]) for row in rows] == [
        ("1.0.2", "redeploy", "active", None),
        ("1.0.1", "manual_rollback", "superseded", "Slow answers"),
        ("1.0.2", "deploy", "rolled_back", None),
        ("1.0.1", "deploy", "superseded", None),
        ("1.0.0", "deploy", "superseded", None),
    ]
    assert all(row["deployedBy"] == served.deployer.username for row in rows)
    assert rows[0]["endedAt"] is None
    assert rows[0]["endedBy"] is None
    assert rows[1]["rollbackId"] == str(rollback.pk)
    assert [row["rollbackId"] for row in rows if row["kind"] != "manual_rollback"] == [None] * 4
    for later, earlier in itertools.pairwise(rows):
        assert earlier["endedAt"] <= later["deployedAt"]
    assert response.json()["count"] == 5


def test_deployments__every_environment_without_a_filter(api, served, reader):
    environments = {row["environment"] for row in deployments(api, reader, served.template).json()["results"]}
    assert environments == {"development", "production"}


def test_deployments__paginated(api, served, reader):
    page = deployments(api, reader, served.template, pageSize=2).json()
    assert (page["count"], len(page["results"])) == (6, 2)
    assert page["next"] is not None


@pytest.mark.parametrize(
    ("path", "query", "status"),
    [
        (UNKNOWN, {}, 404),
        ("not-an-id", {}, 404),
        (None, {"environment": "moon"}, 400),
        (None, {"environment": ""}, 400),
    ],
)
def test_deployments__bad_input__4xx(api, served, reader, path, query, status):
    template_id = path or served.template.pk
    response = api.as_user(reader).get(f"/api/templates/{template_id}/deployments", data=query)
    assert response.status_code == status
    assert response.json()["error"]["code"]


def test_deployments__anonymous__401(api, served):
    assert api.anonymous().get(f"/api/templates/{served.template.pk}/deployments").status_code == 401


def test_deployments__queries_do_not_grow_with_the_list(api, served, reader, reviewers, django_assert_num_queries):
    client = api.as_user(reader)
    client.get(f"/api/templates/{served.template.pk}/deployments")  # token and roles looked up once
    path = f"/api/templates/{served.template.pk}/deployments"
    with django_assert_num_queries(4) as few:  # who asks, the template, the count, the page
        client.get(path)
    # More deployments, a rollback among them: the same number of queries
    for version in served.versions[:2]:
        served.deploy(version)
    roll_back_in_emergency(actor=served.deployer, template_id=served.template.pk, environment="production", reason="x")
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(path)


# -- rollback history -------------------------------------------------------------------------------


def test_rollback_history__newest_first_every_template_or_one(api, served, reader, create_template, reviewers):
    _, previous, current = served.versions
    first_rollback = initiate_rollback(
        actor=served.deployer, current_version_id=current.pk, target_version_id=previous.pk, reason="one"
    )
    second = roll_back_in_emergency(
        actor=served.deployer, template_id=served.template.pk, environment="production", reason="two"
    )
    # Another template's rollback, in staging
    other = create_template(name="Other")
    versions = [other.latest_version]
    versions.append(
        create_version_live_in_development(
            actor=other.created_by, template_id=other.pk, definition={"content": "B {{inquiry}}"}
        )
    )
    for version in versions:
        approve_for(version, "staging", reviewers)
        served.deploy(version, "staging")
    third = roll_back_in_emergency(actor=served.deployer, template_id=other.pk, environment="staging", reason="three")
    client = api.as_user(reader)
    everything = client.get("/api/rollback/history").json()["results"]
    assert [item["id"] for item in everything] == [str(third.pk), str(second.pk), str(first_rollback.pk)]
    mine = client.get(f"/api/rollback/history?templateId={served.template.pk}").json()["results"]
    assert [(item["rollbackType"], item["reason"]) for item in mine] == [("emergency", "two"), ("manual", "one")]
    assert mine[1]["from"]["version"] == "1.0.2"
    assert mine[1]["to"]["version"] == "1.0.1"


@pytest.mark.parametrize(("query", "status"), [(f"templateId={UNKNOWN}", 404), ("templateId=nope", 400)])
def test_rollback_history__bad_template__4xx(api, reader, query, status):
    response = api.as_user(reader).get(f"/api/rollback/history?{query}")
    assert response.status_code == status
    assert response.json()["error"]["code"]


def test_rollback_history__queries_do_not_grow_with_the_list(api, served, reader, django_assert_num_queries):
    client = api.as_user(reader)
    roll_back_in_emergency(actor=served.deployer, template_id=served.template.pk, environment="production", reason="a")
    client.get("/api/rollback/history")
    with django_assert_num_queries(3) as few:  # who asks, the count, the page
        client.get("/api/rollback/history")
    roll_back_in_emergency(actor=served.deployer, template_id=served.template.pk, environment="production", reason="b")
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(client.get("/api/rollback/history").json()["results"]) == 2


# -- the admin --------------------------------------------------------------------------------------


def staff(user):
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def test_admin__deployer_reads_rollbacks_and_cannot_change_them(served):
    rollback = roll_back_in_emergency(
        actor=served.deployer, template_id=served.template.pk, environment="production", reason="Down"
    )
    client = staff(served.deployer)
    listing = client.get("/admin/releases/rollback/")
    assert listing.status_code == 200
    assert f"{served.template.name}: 1.0.2 → 1.0.1" in listing.content.decode()
    page = client.get(f"/admin/releases/rollback/{rollback.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "render serves the target" in html
    assert "Down" in html
    assert client.get("/admin/releases/rollback/add/").status_code == 403
    assert client.post(f"/admin/releases/rollback/{rollback.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Rollback.objects.filter(pk=rollback.pk).exists()
    assert client.get(f"/admin/releases/rollback/{rollback.pk}/history/").status_code == 200


def test_admin__template_history_lists_the_rollback_with_a_link(served):
    rollback = roll_back_in_emergency(
        actor=served.deployer, template_id=served.template.pk, environment="production", reason="Down"
    )
    client = staff(served.deployer)
    html = client.get(f"/admin/templates_app/prompttemplate/{served.template.pk}/history/").content.decode()
    assert "emergency rollback in production from 1.0.2 to 1.0.1: Down" in html
    assert f"/admin/releases/rollback/{rollback.pk}/change/" in html


def test_admin__deployments_show_a_rule_as_who(served):
    roll_back_automatically(
        template_id=served.template.pk,
        environment="production",
        breaching_deployment_id=served.active().pk,
        reason="p95 > 5s",
        evidence={},
        rule_label="system:rule:3",
    )
    html = staff(served.deployer).get("/admin/releases/deployment/").content.decode()
    assert "by system:rule:3" in html
    assert "active (automatic rollback)" in html
