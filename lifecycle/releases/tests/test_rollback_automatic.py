"""roll_back_automatically, the rule engine's rollback: the safety rules of
../shared/research/experiments-and-rollback.md 5.3, each shown acting and refusing."""

from __future__ import annotations

import pytest

from approvals.models import ApprovalRequest
from lifecycle.core.exceptions import InvalidInput
from lifecycle.releases.models import Deployment, Rollback
from lifecycle.releases.services import initiate_rollback, roll_back_automatically
from lifecycle.releases.tests.conftest import approve_for

pytestmark = pytest.mark.django_db

EVIDENCE = {"rule": 7, "metric": "success_rate", "evaluations": [{"value": 81.5, "n": 240}, {"value": 79.0, "n": 251}]}


def automatically(served, deployment=None, **overrides):
    """The rule engine's call, for the deployment active now (or the one given)."""
    arguments = {
        "template_id": served.template.pk,
        "environment": "production",
        "breaching_deployment_id": (deployment or served.active()).pk,
        "reason": "success_rate < 95% for 3 consecutive evaluations",
        "evidence": EVIDENCE,
        "rule_label": "system:rule:7",
        **overrides,
    }
    return roll_back_automatically(**arguments)


def state_of(served):
    return sorted(Deployment.objects.filter(template=served.template).values_list("pk", "state")), list(
        Rollback.objects.values_list("pk", flat=True)
    )


def test_automatic__breaching_deployment_active__rolled_back_to_the_last_good_version(api, served, reader):
    breaching = served.active()
    # When the rule engine rolls back 1.0.2
    rollback = automatically(served)
    # Then 1.0.1 serves, made active by the rule; 1.0.2 is marked rolled back by a rule
    assert rollback is not None
    rendered = api.as_user(reader).post(
        f"/api/templates/{served.template.pk}/render", {"environment": "production", "variables": {"inquiry": "q"}}
    )
    assert rendered.json()["version"] == "1.0.1"
    breaching.refresh_from_db()
    assert (breaching.state, breaching.rolled_back_by_rule, breaching.ended_by, breaching.ended_by_label) == (
        "rolled_back",
        True,
        None,
        "system:rule:7",
    )
    active = served.active()
    assert (active.kind, active.deployed_by, active.deployed_by_label) == (
        "automatic_rollback",
        None,
        "system:rule:7",
    )
    # And the record says it was automatic, which rule, why, with the evidence as given, and checked
    assert (rollback.type, rollback.state, rollback.initiated_by, rollback.initiated_by_name) == (
        "automatic",
        "completed",
        None,
        "system:rule:7",
    )
    assert rollback.evidence == EVIDENCE
    assert rollback.serves_target is True


def test_automatic__shown_in_history_and_deployments_with_the_rule(api, served, reader):
    rollback = automatically(served)
    client = api.as_user(reader)
    history = client.get(f"/api/rollback/history?templateId={served.template.pk}").json()["results"]
    assert [(item["id"], item["rollbackType"], item["initiatedBy"]) for item in history] == [
        (str(rollback.pk), "automatic", "system:rule:7")
    ]
    assert history[0]["evidence"] == EVIDENCE
    deployments = client.get(f"/api/templates/{served.template.pk}/deployments").json()["results"]
    assert (deployments[0]["kind"], deployments[0]["deployedBy"], deployments[0]["rollbackId"]) == (
        "automatic_rollback",
        "system:rule:7",
        str(rollback.pk),
    )
    assert (deployments[1]["status"], deployments[1]["endedBy"]) == ("rolled_back", "system:rule:7")
    trail = client.get(f"/api/templates/{served.template.pk}/history").json()["results"]
    assert [(entry["subject"], entry["by"], entry["summary"]) for entry in trail[:3]] == [
        (
            "rollback",
            "system:rule:7",
            "automatic rollback in production from 1.0.2 to 1.0.1: success_rate < 95% for 3 consecutive evaluations",
        ),
        ("deployment", None, "version 1.0.1 in production made active by an automatic rollback"),
        ("deployment", None, "version 1.0.2 in production rolled back by a rule"),
    ]


def test_automatic__breaching_deployment_no_longer_active__none_and_nothing_changed(served):
    # Given the rule saw 1.0.2's deployment breach, and a deployer rolled it back meanwhile
    breaching = served.active()
    _, previous, current = served.versions
    initiate_rollback(actor=served.deployer, current_version_id=current.pk, target_version_id=previous.pk, reason="x")
    before = state_of(served)
    # When the rule engine acts on the deployment it saw
    assert automatically(served, deployment=breaching) is None
    # Then nothing more happened
    assert state_of(served) == before


def test_automatic__version_active_again_in_a_new_deployment__still_none(served):
    # Given 1.0.2 superseded then deployed again: the breaching deployment is not the active one, although
    # its version is
    breaching = served.active()
    served.deploy(served.versions[1])
    served.deploy(served.versions[2])
    assert automatically(served, deployment=breaching) is None


def test_automatic__no_earlier_version__none(served, create_template, reviewers):
    # Given a template whose first version is the only one that ever served production
    only = create_template(name="Single").latest_version
    approve_for(only, "production", reviewers)
    breaching = served.deploy(only)
    # When it breaches, then there is no safe target: None, and it keeps serving
    assert automatically(served, template_id=only.template_id, deployment=breaching) is None
    breaching.refresh_from_db()
    assert breaching.state == "active"


def test_automatic__never_to_a_version_a_rule_rolled_back(served):
    # Given a rule rolled 1.0.2 back to 1.0.1
    assert automatically(served) is not None
    # When 1.0.1 breaches too, the rule rolls it back to 1.0.0 (1.0.2 is newer, and a rule rolled it back)
    second = automatically(served)
    assert second is not None
    assert (second.from_version.number, second.to_version.number) == ("1.0.1", "1.0.0")
    # And when 1.0.0 breaches as well: no safe target (1.0.1 and 1.0.2 were rolled back by a rule): None
    before = state_of(served)
    assert automatically(served) is None
    assert state_of(served) == before


def test_automatic__rule_rolled_back_version_deployed_again_later__still_never_a_target(served, reviewers):
    first, previous, current = served.versions
    # Given 1.0.2 rolled back by a person to 1.0.1; then a rule rolled 1.0.1 back to 1.0.0; then a deployer
    # deployed 1.0.1 again, and later 1.0.3 over it (1.0.1's last time ended as superseded)
    initiate_rollback(actor=served.deployer, current_version_id=current.pk, target_version_id=previous.pk, reason="x")
    assert automatically(served).to_version == first
    served.deploy(previous)
    newest = served.new_version("Answer #3: {{inquiry}}")
    approve_for(newest, "production", reviewers)
    served.deploy(newest)
    # When 1.0.3 breaches, then the rule goes to 1.0.0: never 1.0.1 (a rule rolled it back), never 1.0.2
    # (its last time ended in a rollback)
    assert automatically(served).to_version == first


def test_automatic__never_rolls_forward(served):
    first, previous, _ = served.versions
    # Given 1.0.2 superseded by 1.0.1 deployed again (an older version serving after a newer one)
    served.deploy(previous)
    # When 1.0.1 breaches, then the rule skips 1.0.2 (newer) and goes back to 1.0.0
    rollback = automatically(served)
    assert (rollback.from_version, rollback.to_version) == (previous, first)


def test_automatic__target_no_longer_approved__skipped(served):
    first, previous, _ = served.versions
    ApprovalRequest.objects.filter(version=previous, environment="production").update(state="cancelled")
    assert automatically(served).to_version == first


def test_automatic__only_target_breaks_the_callers__none(served, reviewers):
    # Given 2.0.0 (requires `customer`) then 3.0.0 (does not), and 1.0.x no longer approved
    needs_customer = served.new_version(
        "Hello {{customer}}: {{inquiry}}", variables=[{"name": "inquiry"}, {"name": "customer"}]
    )
    current = served.new_version("Hi: {{inquiry}}", variables=[{"name": "inquiry"}])
    for version in (needs_customer, current):
        approve_for(version, "production", reviewers)
        served.deploy(version)
    ApprovalRequest.objects.filter(version__in=served.versions, environment="production").update(state="cancelled")
    # When 3.0.0 breaches: 2.0.0 would break its callers, and nothing else is approved: None
    before = state_of(served)
    assert automatically(served) is None
    assert state_of(served) == before


def test_automatic__another_rollback_in_progress__none(served):
    active = served.active()
    Rollback.objects.create(
        type="manual",
        template=served.template,
        environment="production",
        from_deployment=active,
        from_version=active.version,
        to_version=served.versions[0],
        reason="someone else's, in flight",
        initiated_by=served.deployer,
    )
    before = state_of(served)
    assert automatically(served) is None
    assert state_of(served) == before


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"reason": ""}, "reason"),
        ({"rule_label": ""}, "rule_label"),
        ({"rule_label": "x" * 101}, "rule_label"),
        ({"evidence": ["not", "an", "object"]}, "evidence"),
        ({"environment": "moon"}, "environment"),
    ],
)
def test_automatic__bad_arguments__invalid_input_and_nothing_changed(served, override, field):
    before = state_of(served)
    with pytest.raises(InvalidInput) as refused:
        automatically(served, **override)
    assert field in refused.value.fields
    assert state_of(served) == before
