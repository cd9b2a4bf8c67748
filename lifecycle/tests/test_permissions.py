"""Who may do what, over the API: each rule of the README's roles paragraph, allowed and refused.

The rules live in the services and selectors (and each app's permissions.py); these tests go through the
HTTP API as integrations do, so a view that forgot to pass the acting user would show up here.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group

from analytics.models import Execution
from approvals.models import ApprovalComment
from lifecycle.releases.models import Deployment
from lifecycle.testing.factories import ExecutionReportFactory
from templates_app.models import TemplateVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def cast(make_user, create_template) -> dict[str, Any]:
    """A template maintained by `owner` (its creator) and the `team` group, and people around it."""
    people = {
        "owner": make_user("author"),
        "teammate": make_user("author"),  # an author in the maintaining group
        "outsider": make_user("author"),  # an author who does not maintain it
        "maintaining_analyst": make_user("analyst"),  # maintains it, without the author role
        "reader": make_user(),
        "analyst": make_user("analyst"),
        "deployer": make_user("deployer"),
        "integration": make_user("integration"),
        "technical": make_user("technical"),
        "qa": make_user("qa"),
        "security": make_user("security"),
        "root": make_user(superuser=True),
    }
    team = Group.objects.create(name="support-prompts")
    people["teammate"].groups.add(team)
    template = create_template(actor=people["owner"])
    template.maintainers.add(people["maintaining_analyst"])
    template.maintainer_groups.add(team)
    people["template"] = template
    people["version"] = template.latest_version
    return people


def new_version(api, user, template) -> Any:
    return api.as_user(user).post(
        "/api/versions/create", {"templateId": str(template.pk), "data": {"content": f"By {user} {{{{inquiry}}}}"}}
    )


# -- reading and rendering: everyone signed in ------------------------------------------------------


@pytest.mark.parametrize("who", ["reader", "integration", "analyst", "outsider"])
def test_read_and_render__anyone_signed_in__allowed(api, cast, who):
    template, version = cast["template"], cast["version"]
    client = api.as_user(cast[who])
    assert client.get("/api/templates").status_code == 200
    assert client.get(f"/api/templates/{template.pk}").status_code == 200
    assert client.get(f"/api/templates/{template.pk}/history").status_code == 200
    assert client.get(f"/api/templates/{template.pk}/maintainers").status_code == 200
    assert client.get(f"/api/versions/{version.pk}").status_code == 200
    assert client.get(f"/api/versions/{version.pk}/diff").status_code == 200
    assert client.get(f"/api/templates/{template.pk}/resolve?environment=development").status_code == 200
    rendered = client.post(
        f"/api/templates/{template.pk}/render", {"environment": "development", "variables": {"inquiry": "hi"}}
    )
    assert rendered.status_code == 200


def test_read__anonymous__401(api, cast):
    assert api.anonymous().get(f"/api/templates/{cast['template'].pk}").status_code == 401


# -- creating templates: authors ------------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [("owner", 201), ("root", 201), ("reader", 403), ("analyst", 403)])
def test_create_template__by_role__allowed_to_authors_and_superusers(api, cast, who, status):
    body = {"name": f"By {who}", "content": "Hello", "variables": []}
    response = api.as_user(cast[who]).post("/api/templates", body)
    assert response.status_code == status, response.json()
    if status == 201:
        assert response.json()["maintainers"] == {"users": [cast[who].username], "groups": []}


# -- versions, submissions, withdrawals, development deploys: authors who maintain it --------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("owner", 201),
        ("teammate", 201),  # through the maintaining group
        ("root", 201),
        ("outsider", 403),  # an author, but not a maintainer
        ("maintaining_analyst", 403),  # a maintainer, but not an author
        ("deployer", 403),
    ],
)
def test_create_version__maintaining_authors_and_superusers_only(api, cast, who, status):
    before = TemplateVersion.objects.count()
    response = new_version(api, cast[who], cast["template"])
    assert response.status_code == status, response.json()
    assert TemplateVersion.objects.count() == before + (status == 201)


@pytest.mark.parametrize(("who", "status"), [("teammate", 201), ("root", 201), ("outsider", 403), ("reader", 403)])
def test_submit__maintaining_authors_and_superusers_only(api, cast, who, status):
    response = api.as_user(cast[who]).post(
        "/api/approval/submit", {"versionId": str(cast["version"].pk), "environment": "production"}
    )
    assert response.status_code == status, response.json()


@pytest.mark.parametrize(("who", "status"), [("teammate", 200), ("root", 200), ("outsider", 403), ("qa", 403)])
def test_withdraw__maintaining_authors_and_superusers_only(api, cast, who, status):
    body = {"versionId": str(cast["version"].pk), "environment": "production"}
    assert api.as_user(cast["owner"]).post("/api/approval/submit", body).status_code == 201
    response = api.as_user(cast[who]).post("/api/approval/cancel", body)
    assert response.status_code == status, response.json()


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 200), ("teammate", 200), ("deployer", 200), ("outsider", 403), ("reader", 403)]
)
def test_deploy_to_development__maintaining_authors_and_deployers(api, cast, who, status):
    # Given a second version (1.0.1, active in development), and 1.0.0 to put back
    assert new_version(api, cast["owner"], cast["template"]).status_code == 201
    response = api.as_user(cast[who]).put(f"/api/versions/{cast['version'].pk}/deploy", {"environment": "development"})
    assert response.status_code == status, response.json()
    active = Deployment.objects.get(template=cast["template"], environment="development", state="active")
    assert (active.version_id == cast["version"].pk) == (status == 200)


def test_deploy_to_staging__maintaining_author__403(api, cast):
    response = api.as_user(cast["owner"]).put(f"/api/versions/{cast['version'].pk}/deploy", {"environment": "staging"})
    assert response.status_code == 403


# -- maintainers: its maintainers and superusers ---------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("owner", 200), ("maintaining_analyst", 200), ("teammate", 200), ("root", 200), ("outsider", 403)],
)
def test_set_maintainers__its_maintainers_and_superusers(api, cast, who, status):
    body = {"users": [cast["owner"].username, cast["outsider"].username], "groups": []}
    response = api.as_user(cast[who]).put(f"/api/templates/{cast['template'].pk}/maintainers", body)
    assert response.status_code == status, response.json()
    cast["template"].refresh_from_db()
    maintainers = sorted(user.username for user in cast["template"].maintainers.all())
    if status == 200:
        assert response.json() == {"users": sorted(body["users"]), "groups": []}
        assert maintainers == sorted(body["users"])
    else:
        assert cast["outsider"].username not in maintainers


def test_set_maintainers__none_left__400_and_unchanged(api, cast):
    response = api.as_user(cast["owner"]).put(
        f"/api/templates/{cast['template'].pk}/maintainers", {"users": [], "groups": []}
    )
    assert response.status_code == 400
    assert cast["template"].maintainers.filter(pk=cast["owner"].pk).exists()


def test_set_maintainers__unknown_name__400_naming_it(api, cast):
    response = api.as_user(cast["owner"]).put(
        f"/api/templates/{cast['template'].pk}/maintainers", {"users": ["nobody"], "groups": ["no-group"]}
    )
    assert response.status_code == 400
    assert "nobody" in response.json()["error"]["message"]


def test_set_maintainers__new_maintainer__may_then_create_versions(api, cast):
    # Given an author who may not yet create versions of the template
    assert new_version(api, cast["outsider"], cast["template"]).status_code == 403
    # When a maintainer adds them
    api.as_user(cast["owner"]).put(
        f"/api/templates/{cast['template'].pk}/maintainers",
        {"users": [cast["owner"].username, cast["outsider"].username]},
    )
    # Then they may
    assert new_version(api, cast["outsider"], cast["template"]).status_code == 201


# -- a reviewer's queue: that reviewer, and superusers ----------------------------------------------


@pytest.mark.parametrize(("who", "status"), [("technical", 200), ("root", 200), ("qa", 403), ("owner", 403)])
def test_review_queue__its_reviewer_and_superusers(api, cast, who, status):
    response = api.as_user(cast[who]).get(f"/api/approval/pending?approverId={cast['technical'].username}")
    assert response.status_code == status


# -- comments: submitter, maintainers, the request's reviewers, deployers, superusers ---------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("teammate", 201),  # submitted it
        ("owner", 201),  # maintains it
        ("maintaining_analyst", 201),  # maintains it, whatever their role
        ("qa", 201),  # holds one of its stages' roles
        ("deployer", 201),
        ("root", 201),
        ("security", 403),  # a reviewer, but staging's stages are technical and qa
        ("outsider", 403),
        ("reader", 403),
        ("analyst", 403),
        ("integration", 403),
    ],
)
def test_comment__who_takes_part_in_the_request(api, cast, who, status):
    body = {"versionId": str(cast["version"].pk), "environment": "staging"}
    assert api.as_user(cast["teammate"]).post("/api/approval/submit", body).status_code == 201
    response = api.as_user(cast[who]).post("/api/approval/comment", {**body, "comment": "A remark"})
    assert response.status_code == status, response.json()
    assert ApprovalComment.objects.count() == (status == 201)


# -- reporting executions: integrations and superusers for any template, maintainers for theirs -----


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("integration", 201),
        ("root", 201),
        ("owner", 201),  # maintains it
        ("maintaining_analyst", 201),  # maintains it, whatever their role
        ("teammate", 201),  # through the maintaining group
        ("outsider", 403),  # maintains another template only
        ("reader", 403),
        ("analyst", 403),
        ("deployer", 403),
    ],
)
def test_report_execution__integrations_and_maintainers(api, cast, create_template, who, status):
    create_template(actor=cast["outsider"])  # the outsider maintains a template of their own
    before = Execution.objects.count()
    response = api.as_user(cast[who]).post("/api/executions", ExecutionReportFactory(version=cast["version"]))
    assert response.status_code == status, response.json()
    assert Execution.objects.count() == before + (status == 201)


def test_report_batch__one_row_of_a_template_not_maintained__403_naming_it_and_nothing_stored(
    api, cast, create_template
):
    # Given a maintainer of one template, and a batch with a row of another template
    other = create_template(actor=cast["outsider"], name="Someone else's")
    rows = [ExecutionReportFactory(version=cast["version"]), ExecutionReportFactory(version=other.latest_version)]
    # When they send it
    response = api.as_user(cast["owner"]).post("/api/executions/batch", {"executions": rows})
    # Then nothing of it is stored, and the answer says which template they may not report for
    assert response.status_code == 403
    assert "Someone else's" in response.json()["error"]["message"]
    assert not Execution.objects.exists()


def test_report__no_right_to_report_anything__403_before_the_report_is_checked(api, cast):
    response = api.as_user(cast["reader"]).post("/api/executions", {"templateVersionId": "not even an id"})
    assert response.status_code == 403


# -- reading the numbers: maintainers, analysts, deployers, superusers --------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("owner", 200),
        ("teammate", 200),
        ("maintaining_analyst", 200),
        ("analyst", 200),
        ("root", 200),
        ("outsider", 403),
        ("reader", 403),
        ("integration", 403),
        ("deployer", 200),  # deploys, rolls back and promotes on them (issue 15)
    ],
)
def test_metrics_and_analytics__maintainers_analysts_deployers_and_superusers(api, cast, who, status):
    client = api.as_user(cast[who])
    metrics = client.get("/api/performance/metrics", data={"versionId": str(cast["version"].pk)})
    analytics = client.get("/api/performance/analytics", data={"templateId": str(cast["template"].pk)})
    assert (metrics.status_code, analytics.status_code) == (status, status)


# -- rollback: deployers; emergencies also security; forcing past breaking variables, superusers --------


@pytest.fixture
def in_production(cast, reviewers):
    """The cast's template with 1.0.0 then 1.0.1 deployed to production: 1.0.1 serves there."""
    from lifecycle.releases.services import create_version_live_in_development, deploy_version
    from lifecycle.releases.tests.conftest import approve_for

    first = cast["version"]
    second = create_version_live_in_development(
        actor=cast["owner"], template_id=cast["template"].pk, definition={"content": "Two {{inquiry}}"}
    )
    for version in (first, second):
        approve_for(version, "production", reviewers)
        deploy_version(actor=cast["deployer"], version_id=version.pk, environment="production")
    return first, second


def _served_in_production(cast) -> Any:
    return Deployment.objects.get(template=cast["template"], environment="production", state="active").version_id


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("deployer", 201),
        ("root", 201),
        ("security", 403),  # emergencies only
        ("owner", 403),  # maintains it, but does not deploy
        ("analyst", 403),
        ("integration", 403),
        ("reader", 403),
    ],
)
def test_manual_rollback__deployers_and_superusers(api, cast, in_production, who, status):
    first, second = in_production
    body = {"currentVersionId": str(second.pk), "targetVersionId": str(first.pk), "reason": "Slower answers"}
    response = api.as_user(cast[who]).post("/api/rollback/initiate", body)
    assert response.status_code == status, response.json()
    assert _served_in_production(cast) == (first.pk if status == 201 else second.pk)


@pytest.mark.parametrize(
    ("who", "status"),
    [("deployer", 201), ("security", 201), ("root", 201), ("owner", 403), ("technical", 403), ("reader", 403)],
)
def test_emergency_rollback__deployers_security_and_superusers(api, cast, in_production, who, status):
    first, second = in_production
    body = {"templateId": str(cast["template"].pk), "environment": "production", "reason": "Leaks data"}
    response = api.as_user(cast[who]).post("/api/rollback/emergency", body)
    assert response.status_code == status, response.json()
    assert _served_in_production(cast) == (first.pk if status == 201 else second.pk)


@pytest.mark.parametrize(("who", "status"), [("deployer", 200), ("root", 200), ("security", 403), ("reader", 403)])
def test_validate_rollback__deployers_and_superusers(api, cast, in_production, who, status):
    first, second = in_production
    query = {"currentVersionId": str(second.pk), "targetVersionId": str(first.pk)}
    assert api.as_user(cast[who]).get("/api/rollback/validate", data=query).status_code == status


@pytest.mark.parametrize(("who", "status"), [("root", 201), ("deployer", 403)])
def test_force_rollback__superusers_only(api, cast, in_production, who, status):
    first, second = in_production
    body = {
        "currentVersionId": str(second.pk),
        "targetVersionId": str(first.pk),
        "reason": "Slower answers",
        "force": True,
    }
    response = api.as_user(cast[who]).post("/api/rollback/initiate", body)
    assert response.status_code == status, response.json()


@pytest.mark.parametrize("who", ["reader", "integration", "analyst", "outsider"])
def test_deployments_and_rollback_history__anyone_signed_in(api, cast, in_production, who):
    client = api.as_user(cast[who])
    assert client.get(f"/api/templates/{cast['template'].pk}/deployments").status_code == 200
    assert client.get(f"/api/rollback/history?templateId={cast['template'].pk}").status_code == 200
    assert client.get("/api/rollback/history").status_code == 200


def test_rollback_endpoints__anonymous__401(api, cast):
    anonymous = api.anonymous()
    assert anonymous.get("/api/rollback/history").status_code == 401
    assert anonymous.get(f"/api/templates/{cast['template'].pk}/deployments").status_code == 401
    assert anonymous.post("/api/rollback/emergency", {}).status_code == 401


@pytest.mark.parametrize("who", ["reader", "integration", "analyst", "outsider"])
def test_dependents__anyone_signed_in_reads_them__anonymous_401(api, cast, who):
    path = f"/api/templates/{cast['template'].pk}/dependents"
    assert api.as_user(cast[who]).get(path).status_code == 200
    assert api.anonymous().get(path).status_code == 401


def test_refresh_includes__someone_who_may_not_change_the_template__403_nothing_made(api, cast):
    before = cast["template"].versions.count()
    response = api.as_user(cast["outsider"]).post(
        "/api/versions/create", {"templateId": str(cast["template"].pk), "refreshIncludes": True}
    )
    assert response.status_code == 403
    assert cast["template"].versions.count() == before
