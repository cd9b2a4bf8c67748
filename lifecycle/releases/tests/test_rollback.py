"""Manual and emergency rollback over the API: what changes (and what does not, on a refusal), what render
serves the moment the call returns, what is recorded and who hears of it."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, transaction

from lifecycle.core.outbox.models import Delivery
from lifecycle.releases import services
from lifecycle.releases.exceptions import RolledBackMeanwhile
from lifecycle.releases.models import Deployment, Rollback
from lifecycle.releases.services import initiate_rollback, roll_back_automatically, roll_back_in_emergency
from lifecycle.releases.tests.conftest import approve_for
from lifecycle.testing.executions import store
from lifecycle.testing.factories import ExecutionReportFactory

pytestmark = pytest.mark.django_db

UNKNOWN = "00000000-0000-0000-0000-000000000000"


def initiate(api, user, current, target, **extra):
    body = {
        "currentVersionId": str(current.pk),
        "targetVersionId": str(target.pk),
        "reason": "Performance degradation detected",
        "rollbackType": "manual",
        **extra,
    }
    return api.as_user(user).post("/api/rollback/initiate", body)


def emergency(api, user, template, **extra):
    body = {"templateId": str(template.pk), "environment": "production", "reason": "Critical issue", **extra}
    return api.as_user(user).post("/api/rollback/emergency", body)


def rendered_version(api, reader, template, environment="production"):
    response = api.as_user(reader).post(
        f"/api/templates/{template.pk}/render", {"environment": environment, "variables": {"inquiry": "q"}}
    )
    assert response.status_code == 200, response.json()
    return response.json()["version"]


def snapshot(template):
    """Every deployment's state, and the rollbacks: what a refused request must leave as it was."""
    return (
        sorted(Deployment.objects.filter(template=template).values_list("pk", "state")),
        Rollback.objects.count(),
    )


# -- manual rollback --------------------------------------------------------------------------------


def test_initiate__valid_target__201_the_target_serves_at_once_and_all_is_recorded(api, served, reader):
    _, previous, current = served.versions
    was_active = served.active()
    assert rendered_version(api, reader, served.template) == "1.0.2"
    # When a deployer rolls 1.0.2 back to 1.0.1
    response = initiate(api, served.deployer, current, previous)
    # Then production serves 1.0.1 from the moment the call returned
    assert response.status_code == 201, response.json()
    assert rendered_version(api, reader, served.template) == "1.0.1"
    # And 1.0.2's deployment was rolled back, 1.0.1 made active by a manual rollback, with the reason
    was_active.refresh_from_db()
    assert (was_active.state, was_active.ended_by, was_active.rolled_back_by_rule) == (
        "rolled_back",
        served.deployer,
        False,
    )
    now_active = served.active()
    assert (now_active.version_id, now_active.kind, now_active.reason, now_active.deployed_by) == (
        previous.pk,
        "manual_rollback",
        "Performance degradation detected",
        served.deployer,
    )
    # And the answer is the record: who, from and to, why, its states' times and the post-rollback check
    body = response.json()
    rollback = Rollback.objects.get(pk=body["id"])
    assert (rollback.type, rollback.state, rollback.from_deployment, rollback.to_deployment) == (
        "manual",
        "completed",
        was_active,
        now_active,
    )
    assert (body["rollbackType"], body["status"], body["environment"], body["initiatedBy"]) == (
        "manual",
        "completed",
        "production",
        served.deployer.username,
    )
    assert body["from"] == {"deploymentId": str(was_active.pk), "versionId": str(current.pk), "version": "1.0.2"}
    assert body["to"] == {"deploymentId": str(now_active.pk), "versionId": str(previous.pk), "version": "1.0.1"}
    assert (body["reason"], body["forced"], body["evidence"], body["failureReason"]) == (
        "Performance degradation detected",
        False,
        {},
        None,
    )
    assert body["requestedAt"] <= body["startedAt"] <= body["finishedAt"]
    assert body["verification"]["activeVersionId"] == str(previous.pk)
    assert body["verification"]["servesTarget"] is True


def test_initiate__records_the_current_versions_numbers_since_it_became_active(api, served):
    _, previous, current = served.versions
    since = served.active().deployed_at
    # Given 1.0.2's executions in production since its deploy (3 of 4 failed), and some before
    rows = [
        ExecutionReportFactory(
            version=current,
            status="success" if index == 0 else "error",
            timestamp=since.isoformat(),
            responseTime=100 * (index + 1),
            metadata={"requestId": f"now-{index}"},
        )
        for index in range(4)
    ]
    rows.append(ExecutionReportFactory(version=previous, metadata={"requestId": "other-version"}))
    store(rows)
    metrics = initiate(api, served.deployer, current, previous).json()["metrics"]
    assert (metrics["executions"], metrics["successRate"], metrics["errorRate"]) == (4, 25.0, 75.0)
    assert metrics["averageResponseTime"] == 250.0
    assert metrics["periods"][0]["from"] == since.isoformat().replace("+00:00", "Z")


def test_initiate__user_id_in_the_body__ignored_the_caller_acts(api, served):
    _, previous, current = served.versions
    body = initiate(api, served.deployer, current, previous, userId="admin-user").json()
    assert body["initiatedBy"] == served.deployer.username


def test_initiate__rollback_type_left_out__manual(api, served):
    _, previous, current = served.versions
    response = api.as_user(served.deployer).post(
        "/api/rollback/initiate",
        {"currentVersionId": str(current.pk), "targetVersionId": str(previous.pk), "reason": "Slow"},
    )
    assert (response.status_code, response.json()["rollbackType"]) == (201, "manual")


def test_initiate__in_staging__only_staging_changes(api, served, reviewers, reader):
    first, previous, _ = served.versions
    for version in (first, previous):
        approve_for(version, "staging", reviewers)
        served.deploy(version, "staging")
    response = initiate(api, served.deployer, previous, first, environment="staging")
    assert response.status_code == 201, response.json()
    assert rendered_version(api, reader, served.template, "staging") == "1.0.0"
    assert rendered_version(api, reader, served.template, "production") == "1.0.2"


def test_initiate__invalid_target__400_with_each_reason_and_nothing_changed(api, served, create_template):
    other = create_template(name="Another").latest_version
    before = snapshot(served.template)
    response = initiate(api, served.deployer, served.versions[2], other)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "rollback_invalid"
    assert "another template" in error["fields"]["targetVersionId"][0]
    assert snapshot(served.template) == before


def test_initiate__current_no_longer_active__409_and_nothing_changed(api, served):
    first, previous, _ = served.versions
    before = snapshot(served.template)
    response = initiate(api, served.deployer, previous, first)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "current_not_active"
    assert "1.0.2 is active there" in response.json()["error"]["message"]
    assert snapshot(served.template) == before


def test_initiate__twice_with_the_same_current__second_is_409(api, served):
    first, previous, current = served.versions
    assert initiate(api, served.deployer, current, previous).status_code == 201
    assert initiate(api, served.deployer, current, first).status_code == 409


def test_initiate__breaking_target__400_unless_a_superuser_forces_it(api, served, reviewers, make_user, reader):
    needs_customer = served.new_version(
        "Hello {{customer}}: {{inquiry}}", variables=[{"name": "inquiry"}, {"name": "customer"}]
    )
    current = served.new_version("Hi: {{inquiry}}", variables=[{"name": "inquiry"}])
    for version in (needs_customer, current):
        approve_for(version, "production", reviewers)
        served.deploy(version)
    refused = initiate(api, served.deployer, current, needs_customer)
    assert refused.status_code == 400
    assert "customer" in refused.json()["error"]["fields"]["targetVersionId"][0]
    assert initiate(api, served.deployer, current, needs_customer, force=True).status_code == 403
    # A superuser may force it: recorded as forced
    forced = initiate(api, make_user(superuser=True), current, needs_customer, force=True)
    assert forced.status_code == 201, forced.json()
    assert forced.json()["forced"] is True
    assert Rollback.objects.get().forced is True


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"reason": ""}, 400, "reason"),
        ({"reason": "   "}, 400, "reason"),
        ({"reason": "x" * 1001}, 400, "reason"),
        ({"reason": 42}, 400, "reason"),
        ({"reason": None}, 400, "reason"),
        ({"rollbackType": "emergency"}, 400, "rollbackType"),
        ({"rollbackType": "automatic"}, 400, "rollbackType"),
        ({"environment": "moon"}, 400, "environment"),
        ({"environment": 7}, 400, "environment"),
        ({"currentVersionId": "not-an-id"}, 400, "currentVersionId"),
        ({"targetVersionId": 12}, 400, "targetVersionId"),
        ({"force": "yes"}, 400, "force"),
        ({"currentVersionId": UNKNOWN}, 404, None),
        ({"targetVersionId": UNKNOWN}, 404, None),
    ],
)
def test_initiate__bad_input__4xx_in_the_error_shape_and_nothing_changed(api, served, change, status, field):
    _, previous, current = served.versions
    body = {
        "currentVersionId": str(current.pk),
        "targetVersionId": str(previous.pk),
        "reason": "Performance degradation detected",
        "rollbackType": "manual",
        **change,
    }
    before = snapshot(served.template)
    response = api.as_user(served.deployer).post("/api/rollback/initiate", body)
    assert response.status_code == status, response.json()
    error = response.json()["error"]
    assert error["code"]
    assert error["message"]
    if field:
        assert field in error["fields"]
    assert snapshot(served.template) == before


def test_initiate__missing_reason__400_naming_it(api, served):
    _, previous, current = served.versions
    body = {"currentVersionId": str(current.pk), "targetVersionId": str(previous.pk)}
    response = api.as_user(served.deployer).post("/api/rollback/initiate", body)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["reason"]


@pytest.mark.parametrize("body", [[], "rollback", {"data": {}}])
def test_initiate__body_not_the_expected_object__400(api, served, body):
    before = snapshot(served.template)
    assert api.as_user(served.deployer).post("/api/rollback/initiate", body).status_code == 400
    assert snapshot(served.template) == before


# -- emergency rollback -----------------------------------------------------------------------------


def test_emergency__to_the_last_good_version__201_served_at_once_and_recorded(api, served, reader, make_user):
    on_call = make_user("security")
    response = emergency(api, on_call, served.template)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["rollbackType"], body["from"]["version"], body["to"]["version"], body["initiatedBy"]) == (
        "emergency",
        "1.0.2",
        "1.0.1",
        on_call.username,
    )
    assert rendered_version(api, reader, served.template) == "1.0.1"
    assert served.active().kind == "emergency_rollback"
    assert body["verification"]["servesTarget"] is True


def test_emergency__twice__skips_the_deployment_rolled_back_first(api, served):
    # Given 1.0.2 rolled back in an emergency to 1.0.1
    assert emergency(api, served.deployer, served.template).json()["to"]["version"] == "1.0.1"
    # When 1.0.1 is rolled back in an emergency too
    body = emergency(api, served.deployer, served.template).json()
    # Then it goes to 1.0.0: 1.0.2's deployment, more recent, was rolled back
    assert (body["from"]["version"], body["to"]["version"]) == ("1.0.1", "1.0.0")


def test_emergency__version_rolled_back_by_a_person_then_served_again__good_again(api, served, reviewers):
    _, previous, current = served.versions
    # Given 1.0.2 rolled back by a deployer, then redeployed (it served well), then 1.0.3 deployed over it
    assert initiate(api, served.deployer, current, previous).status_code == 201
    served.deploy(current)
    newest = served.new_version("Answer #3: {{inquiry}}")
    approve_for(newest, "production", reviewers)
    served.deploy(newest)
    # When 1.0.3 is rolled back in an emergency
    body = emergency(api, served.deployer, served.template).json()
    # Then the last good version is 1.0.2: its last deployment ended as superseded, not rolled back
    assert body["to"]["version"] == "1.0.2"


def test_emergency__never_a_version_a_rule_rolled_back(api, served):
    _, previous, current = served.versions
    # Given a rule rolled 1.0.2 back to 1.0.1, then a deployer put 1.0.2 back, then deployed 1.0.1 over it
    # (1.0.2's latest deployment was superseded, not rolled back)
    active = served.active()
    assert roll_back_automatically(
        template_id=served.template.pk,
        environment="production",
        breaching_deployment_id=active.pk,
        reason="error rate",
        evidence={},
        rule_label="system:rule:7",
    )
    served.deploy(current)
    served.deploy(previous)
    # When 1.0.1 is rolled back in an emergency
    body = emergency(api, served.deployer, served.template).json()
    # Then it goes to 1.0.0: never to 1.0.2, which a rule rolled back here
    assert body["to"]["version"] == "1.0.0"


def test_emergency__no_earlier_good_version__409_and_nothing_changed(api, served):
    # Given 1.0.2 then 1.0.1 rolled back in turn: 1.0.0 serves, and nothing before it
    assert emergency(api, served.deployer, served.template).status_code == 201
    assert emergency(api, served.deployer, served.template).status_code == 201
    before = snapshot(served.template)
    response = emergency(api, served.deployer, served.template)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_rollback_target"
    assert snapshot(served.template) == before


def test_emergency__nothing_active_there__409(api, served):
    response = emergency(api, served.deployer, served.template, environment="staging")
    assert response.status_code == 409
    assert "Nothing is active in staging" in response.json()["error"]["message"]


def test_emergency__only_the_first_version_ever_served__409(api, create_template, deployer):
    template = create_template()  # 1.0.0, active in development only
    response = emergency(api, deployer, template, environment="development")
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"templateId": UNKNOWN}, 404, None),
        ({"templateId": "nope"}, 400, "templateId"),
        ({"templateId": 5}, 400, "templateId"),
        ({"environment": "moon"}, 400, "environment"),
        ({"reason": ""}, 400, "reason"),
        ({"reason": ["x"]}, 400, "reason"),
    ],
)
def test_emergency__bad_input__4xx_and_nothing_changed(api, served, change, status, field):
    before = snapshot(served.template)
    response = emergency(api, served.deployer, served.template, **change)
    assert response.status_code == status, response.json()
    if field:
        assert field in response.json()["error"]["fields"]
    assert snapshot(served.template) == before


def test_emergency__environment_left_out__production(api, served):
    response = api.as_user(served.deployer).post(
        "/api/rollback/emergency", {"templateId": str(served.template.pk), "reason": "Down"}
    )
    assert (response.status_code, response.json()["environment"]) == (201, "production")


# -- notifications ------------------------------------------------------------------------------------


def test_rollback__notifies_the_maintainers_and_deployers_through_the_outbox(api, served, make_user, author):
    # Given people with email addresses: the template's author (a maintainer), a deployer, and others
    author.email = "author@example.com"
    author.save()
    served.deployer.email = "deployer@example.com"
    served.deployer.save()
    reviewer = make_user("qa")
    reviewer.email = "qa@example.com"
    reviewer.save()
    _, previous, current = served.versions
    # When the deployer rolls back
    rollback_id = initiate(api, served.deployer, current, previous).json()["id"]
    # Then one rollback.completed email is queued with the rollback, to the maintainers and the deployers
    (delivery,) = Delivery.objects.filter(source=f"rollback:{rollback_id}")
    assert (delivery.event, delivery.channel) == ("rollback.completed", "email")
    assert delivery.emails == ["author@example.com", "deployer@example.com"]
    assert "1.0.2 -> 1.0.1" in delivery.subject
    assert delivery.payload["rollbackId"] == rollback_id
    assert (delivery.payload["type"], delivery.payload["from"]["version"], delivery.payload["to"]["version"]) == (
        "manual",
        "1.0.2",
        "1.0.1",
    )


def test_rollback__nobody_with_an_email__nothing_queued(api, served):
    _, previous, current = served.versions
    rollback_id = initiate(api, served.deployer, current, previous).json()["id"]
    assert not Delivery.objects.filter(source=f"rollback:{rollback_id}").exists()


def test_rollback__notification_that_cannot_be_written__the_rollback_stands(api, served, monkeypatch, author):
    author.email = "author@example.com"
    author.save()

    def broken(**kwargs):
        raise RuntimeError("outbox table unavailable")

    monkeypatch.setattr(services, "notify", broken)
    _, previous, current = served.versions
    assert initiate(api, served.deployer, current, previous).status_code == 201
    assert served.active().version_id == previous.pk


# -- one at a time, and failures --------------------------------------------------------------------


def _pending(served) -> Rollback:
    """A rollback left in progress (as a worker that stopped midway would leave it)."""
    active = served.active()
    return Rollback.objects.create(
        type="automatic",
        template=served.template,
        environment="production",
        from_deployment=active,
        from_version=active.version,
        to_version=served.versions[0],
        reason="in flight",
        initiated_by_label="system:rule:1",
    )


def test_rollback__another_in_progress__409_and_nothing_changed(api, served):
    _pending(served)
    _, previous, current = served.versions
    before = snapshot(served.template)
    response = initiate(api, served.deployer, current, previous)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "rollback_in_progress"
    assert emergency(api, served.deployer, served.template).status_code == 409
    assert snapshot(served.template) == before


def test_rollback__second_in_progress_row__refused_by_the_database(served):
    _pending(served)
    with pytest.raises(IntegrityError), transaction.atomic():
        _pending(served)


def test_rollback__in_progress_elsewhere__does_not_block(api, served):
    # Given a rollback in progress in production, and 1.0.0 put back in development
    _pending(served)
    first, second, _ = served.versions
    served.deploy(first, "development")
    # When a deployer rolls development back to 1.0.1, then it is done
    response = initiate(api, served.deployer, first, second, environment="development")
    assert response.status_code == 201, response.json()


def test_rollback__database_refuses_a_write__undone_and_recorded_as_failed(served, monkeypatch):
    _, previous, current = served.versions
    was_active = served.active()
    original = Deployment.save

    def refuse_new_deployments(self, *args, **kwargs):
        if self._state.adding:
            raise DatabaseError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Deployment, "save", refuse_new_deployments)
    with pytest.raises(DatabaseError):
        initiate_rollback(
            actor=served.deployer, current_version_id=current.pk, target_version_id=previous.pk, reason="Slow"
        )
    monkeypatch.setattr(Deployment, "save", original)
    # Nothing changed where it serves
    assert served.active() == was_active
    was_active.refresh_from_db()
    assert was_active.state == "active"
    # And the attempt is on record, failed, with why
    failed = Rollback.objects.get()
    assert (failed.state, failed.to_deployment, failed.failure_reason) == ("failed", None, "DatabaseError: disk full")


def test_rollback_state__changes_only_through_transitions(api, served):
    from django_fsm import TransitionNotAllowed

    _, previous, current = served.versions
    rollback = Rollback.objects.get(pk=initiate(api, served.deployer, current, previous).json()["id"])
    with pytest.raises(AttributeError):
        rollback.state = "pending"
    with pytest.raises(TransitionNotAllowed):
        rollback.start()


def test_deploy__after_a_rollback_it_did_not_see__409_and_nothing_changed(served, monkeypatch):
    # Given a deployer who saw 1.0.2 active, and a rollback to 1.0.1 landing before their deploy takes the lock
    _, previous, current = served.versions
    seen = served.active()
    initiate_rollback(actor=served.deployer, current_version_id=current.pk, target_version_id=previous.pk, reason="x")
    monkeypatch.setattr(services, "active_deployment", lambda *args, **kwargs: seen)
    before = snapshot(served.template)
    # When their deploy of 1.0.0 arrives, then it is refused, and nothing changed
    with pytest.raises(RolledBackMeanwhile):
        served.deploy(served.versions[0])
    assert snapshot(served.template) == before


def test_deploy__after_a_rollback_it_saw__deploys(api, served):
    _, previous, current = served.versions
    initiate_rollback(actor=served.deployer, current_version_id=current.pk, target_version_id=previous.pk, reason="x")
    assert served.deploy(current).version_id == current.pk


def test_emergency_service__unknown_template__404_like(served):
    from templates_app.exceptions import TemplateNotFound

    with pytest.raises(TemplateNotFound):
        roll_back_in_emergency(actor=served.deployer, template_id=UNKNOWN, environment="production", reason="x")
