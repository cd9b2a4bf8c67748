"""Webhook subscriptions (issue 16): managed by superusers over /api/webhooks, fed by every lifecycle event
in the event's own transaction, delivered by the outbox (signed as Standard Webhooks, retried with backoff,
each attempt recorded), never to the server's own network unless allowed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from standardwebhooks import Webhook

from abtesting.services import create_test, start_test, stop_test
from approvals.selectors import request_id_for
from approvals.services import reject_stage, submit_for_approval
from lifecycle.core.outbox.models import Delivery
from lifecycle.core.outbox.services import deliver_due
from lifecycle.core.webhooks.events import EVENTS
from lifecycle.core.webhooks.models import WebhookSubscription
from lifecycle.core.webhooks.services import create_subscription
from lifecycle.releases.services import (
    create_version_live_in_development,
    deploy_version,
    initiate_rollback,
    promote_variant,
    roll_back_in_emergency,
)
from lifecycle.testing.receiver import Receiver
from lifecycle.testing.workflow import approve_for

pytestmark = pytest.mark.django_db

WEBHOOKS = "/api/webhooks"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


@pytest.fixture
def admin_user(make_user):
    return make_user(superuser=True, username="root")


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run `change()` as a request would: its transaction commits, and the deliveries it wrote are attempted
    at once (Celery is eager in tests), as a worker does right after the commit."""

    def run(change):
        with django_capture_on_commit_callbacks(execute=True):
            return change()

    return run


def received(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    """Every request's body, each checked against its Standard Webhooks signature."""
    bodies = []
    for request in receiver.requests:
        Webhook(secret).verify(request.body, request.headers)  # raises if the signature is wrong
        bodies.append(json.loads(request.body))
    return bodies


def deploy(deployer, version) -> Any:
    return deploy_version(actor=deployer, version_id=version.pk, environment="production")


def subscribe(receiver: Receiver, admin_user, events=None, template_id=None) -> tuple[WebhookSubscription, str]:
    return create_subscription(
        actor=admin_user, url=receiver.url, events=list(events or EVENTS), template_id=template_id
    )


# --- The API ------------------------------------------------------------------------------------------------


def test_api__superuser_subscribes__secret_shown_once(api, admin_user, receiver):
    api.as_user(admin_user)
    response = api.post(WEBHOOKS, {"url": receiver.url, "events": ["deployment.activated"], "description": "ops"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["deployment.activated"]
    assert body["templateId"] is None
    assert body["active"] is True
    # Never again: not in the list, not in the detail
    listed = api.get(WEBHOOKS).json()
    assert [item["id"] for item in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in api.get(f"{WEBHOOKS}/{body['id']}").json()
    # A new one on rotation, which signs from then on
    rotated = api.post(f"{WEBHOOKS}/{body['id']}/rotate-secret").json()
    assert rotated["secret"] != body["secret"]
    assert WebhookSubscription.objects.get(pk=body["id"]).secret == rotated["secret"]


def test_api__changed_then_deleted__as_asked_then_404(api, admin_user, receiver):
    api.as_user(admin_user)
    made = api.post(WEBHOOKS, {"url": receiver.url, "events": ["deployment.activated"]}).json()
    changed = api.patch(f"{WEBHOOKS}/{made['id']}", {"active": False, "events": ["alert.fired", "abtest.started"]})
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["active"], changed.json()["events"]) == (False, ["alert.fired", "abtest.started"])
    assert api.delete(f"{WEBHOOKS}/{made['id']}").status_code == 204
    assert api.get(f"{WEBHOOKS}/{made['id']}").status_code == 404


@pytest.mark.parametrize("roles", [(), ("deployer",), ("analyst", "author")])
def test_api__not_a_superuser__403_and_nothing_made(api, make_user, receiver, roles):
    api.as_user(make_user(*roles))
    assert api.post(WEBHOOKS, {"url": receiver.url, "events": ["deployment.activated"]}).status_code == 403
    assert api.get(WEBHOOKS).status_code == 403
    assert not WebhookSubscription.objects.exists()


def test_api__anonymous__401(api):
    assert api.anonymous().get(WEBHOOKS).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x", "events": ["deployment.activated"]}, "url"),
        ({"url": "https://example.com/x", "events": []}, "events"),
        ({"url": "https://example.com/x", "events": ["version.exploded"]}, "events"),
        ({"url": "https://example.com/x", "events": ["alert.fired"], "templateId": "nope"}, "templateId"),
        ({"url": "https://user:pw@example.com/x", "events": ["alert.fired"]}, "url"),
    ],
)
def test_api__bad_input__400_naming_the_field(api, admin_user, body, field):
    response = api.as_user(admin_user).post(WEBHOOKS, body)
    assert response.status_code == 400
    assert any(key.startswith(field) for key in response.json()["error"]["fields"]), response.json()


@override_settings(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=False)
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/api/templates",
        "http://localhost/x",
        "http://10.1.2.3/x",
        "http://192.168.0.10/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://0.0.0.0/x",
        "http://[64:ff9b::7f00:1]/x",  # NAT64 of 127.0.0.1
        "http://[2002:7f00:1::1]/x",  # 6to4 of 127.0.0.1
        "http://[::7f00:1]/x",  # IPv4-compatible 127.0.0.1
        "http://2130706433/x",  # 127.0.0.1 as a number
    ],
)
def test_api__url_into_the_servers_own_network__refused_unless_allowed(api, admin_user, url):
    response = api.as_user(admin_user).post(WEBHOOKS, {"url": url, "events": ["alert.fired"]})
    assert response.status_code == 400, response.json()
    assert "public address" in response.json()["error"]["fields"]["url"][0]
    assert not WebhookSubscription.objects.exists()


def test_api__deliveries__every_attempt_with_what_the_receiver_said(
    api, admin_user, receiver, create_template, committed
):
    subscription, _ = subscribe(receiver, admin_user, events=["version.created"])
    receiver.statuses = [503]
    template = committed(lambda: create_template())
    # The first attempt failed (503); the retry, due 10 s later, is delivered
    assert deliver_due(now=timezone.now() + timedelta(seconds=11)) == 1
    api.as_user(admin_user)
    attempts = api.get(f"{WEBHOOKS}/{subscription.pk}/deliveries").json()["results"]
    # Newest first: the retry, delivered; then the first attempt and what the receiver said
    assert [(a["event"], a["number"], a["statusCode"]) for a in attempts] == [
        ("version.created", 2, 200),
        ("version.created", 1, 503),
    ]
    assert attempts[1]["error"].startswith("HTTP 503")
    assert {a["deliveryStatus"] for a in attempts} == {"delivered"}
    assert all(a["durationMs"] >= 0 for a in attempts)
    # the same webhook-id on the retry: receivers can drop repeats
    assert len(set(receiver.ids())) == 1
    assert {a["deliveryId"] for a in attempts} == set(receiver.ids())
    assert json.loads(receiver.requests[0].body)["data"]["templateId"] == str(template.pk)


# --- Events -------------------------------------------------------------------------------------------------


def test_events__a_release_from_creation_to_rollback__each_signed_with_its_ids(
    receiver, admin_user, create_template, author, reviewers, deployer, committed
):
    _, secret = subscribe(receiver, admin_user)
    template = committed(lambda: create_template())
    first = template.latest_version
    second = committed(
        lambda: create_version_live_in_development(
            actor=author, template_id=template.pk, definition={"content": "Kind: {{inquiry}}"}
        )
    )
    for version in (first, second):
        committed(lambda version=version: approve_for(version, "production", reviewers))
        committed(lambda version=version: deploy(deployer, version))
    committed(
        lambda: roll_back_in_emergency(actor=deployer, template_id=template.pk, environment="production", reason="fire")
    )
    committed(lambda: deploy(deployer, second))
    committed(
        lambda: initiate_rollback(
            actor=deployer, current_version_id=second.pk, target_version_id=first.pk, reason="bad answers"
        )
    )
    bodies = received(receiver, secret)
    types = [body["type"] for body in bodies]
    assert types[0] == "version.created"
    assert types.count("version.created") == 2
    assert types.count("approval.submitted") == 2
    assert types.count("approval.stage_decided") == 8  # four stages, two versions
    assert types.count("approval.approved") == 2
    # New versions are live in development at once (deployed there), then deployed to production three times
    production = [
        body
        for body in bodies
        if body["type"] == "deployment.activated" and body["data"]["environment"] == "production"
    ]
    assert len(production) == 3
    assert types.count("rollback.completed") == 2
    # The Standard Webhooks envelope, and our payload: event id, type, time, actor, the objects' ids and versions
    deployed = production[1]
    assert set(deployed) == {"type", "timestamp", "data"}
    data = deployed["data"]
    assert data["type"] == "deployment.activated"
    assert data["eventId"]
    assert data["occurredAt"]
    assert data["actor"] == {"id": deployer.pk, "username": deployer.username}
    assert data["templateId"] == str(template.pk)
    assert data["version"] == {"id": str(second.pk), "number": "1.0.1"}
    assert data["replacedVersion"] == {"id": str(first.pk), "number": "1.0.0"}
    assert data["environment"] == "production"
    emergency, manual = [body["data"] for body in bodies if body["type"] == "rollback.completed"]
    assert (manual["rollback"]["type"], manual["fromVersion"]["number"], manual["toVersion"]["number"]) == (
        "manual",
        "1.0.1",
        "1.0.0",
    )
    assert manual["rollback"]["reason"] == "bad answers"
    assert emergency["rollback"]["type"] == "emergency"
    assert len({body["data"]["eventId"] for body in bodies}) == len(bodies)


def test_events__a_rejection__the_stage_and_the_request_rejected(
    receiver, admin_user, create_template, author, reviewers, committed
):
    _, secret = subscribe(receiver, admin_user, events=["approval.rejected", "approval.stage_decided"])
    version = create_template().latest_version
    committed(lambda: submit_for_approval(actor=author, version_id=version.pk, environment="production"))
    request_id = request_id_for(version.pk, "production")
    committed(
        lambda: reject_stage(actor=reviewers["technical"], request_id=request_id, stage_index=0, comment="too long")
    )
    decided, rejected = received(receiver, secret)
    assert decided["data"]["stage"] == {"index": 0, "role": "technical", "decision": "rejected", "comment": "too long"}
    assert rejected["data"]["request"]["status"] == "rejected"


def test_events__ab_test_started_stopped_and_promoted(
    receiver, admin_user, create_template, author, reviewers, deployer, committed
):
    _, secret = subscribe(receiver, admin_user, events=["abtest.started", "abtest.stopped", "abtest.promoted"])
    template = create_template()
    first = template.latest_version
    second = create_version_live_in_development(
        actor=author, template_id=template.pk, definition={"content": "Brief: {{inquiry}}"}
    )
    for version in (first, second):
        approve_for(version, "production", reviewers)
    deploy_version(actor=deployer, version_id=first.pk, environment="production")

    def a_test(name: str) -> Any:
        return create_test(
            actor=author,
            name=name,
            template_id=template.pk,
            variants=[
                {"id": "control", "template_version_id": first.pk, "traffic_percentage": 50},
                {"id": "variant-a", "template_version_id": second.pk, "traffic_percentage": 50},
            ],
        )

    stopped = a_test("Stopped")
    committed(lambda: start_test(actor=deployer, test_id=stopped.pk))
    committed(lambda: stop_test(actor=deployer, test_id=stopped.pk))
    promoted = a_test("Promoted")
    committed(lambda: start_test(actor=deployer, test_id=promoted.pk))
    committed(lambda: promote_variant(actor=deployer, test_id=promoted.pk, variant_key="variant-a"))
    bodies = received(receiver, secret)
    assert [body["type"] for body in bodies] == [
        "abtest.started",
        "abtest.stopped",
        "abtest.started",
        "abtest.stopped",
        "abtest.promoted",
    ]
    assert bodies[1]["data"]["abTest"]["status"] == "completed"
    assert bodies[-1]["data"]["abTest"]["winner"] == "variant-a"
    assert bodies[-1]["data"]["version"] == {"id": str(second.pk), "number": "1.0.1"}


def test_events__template_filter__only_that_templates_events(receiver, admin_user, create_template, committed):
    watched = create_template(name="Watched")
    _, secret = subscribe(receiver, admin_user, events=["version.created"], template_id=watched.pk)
    committed(lambda: create_template(name="Other"))
    assert receiver.requests == []
    committed(
        lambda: create_version_live_in_development(
            actor=watched.created_by, template_id=watched.pk, definition={"content": "New {{inquiry}}"}
        )
    )
    (body,) = received(receiver, secret)
    assert body["data"]["templateId"] == str(watched.pk)


def test_events__inactive_subscription__nothing_written(receiver, admin_user, create_template, committed):
    subscription, _ = subscribe(receiver, admin_user, events=["version.created"])
    WebhookSubscription.objects.filter(pk=subscription.pk).update(active=False)
    committed(lambda: create_template())
    assert not Delivery.objects.filter(source=subscription.source).exists()


def test_events__receiver_down__the_change_stands_and_the_failure_is_recorded(admin_user, create_template, committed):
    subscription, _ = create_subscription(
        actor=admin_user, url="http://127.0.0.1:9/nobody-listens", events=["version.created"]
    )
    template = committed(lambda: create_template())
    assert template.pk is not None  # created: a receiver that is down never undoes or blocks the event
    (delivery,) = Delivery.objects.filter(source=subscription.source)
    assert delivery.state == Delivery.State.PENDING  # to be retried
    assert "could not connect" in delivery.last_error


def test_events__rolled_back_change__nothing_sent(receiver, admin_user, create_template):
    from django.db import transaction

    subscribe(receiver, admin_user, events=["version.created"])

    def failing_request() -> None:
        with transaction.atomic():
            create_template()
            raise RuntimeError("the request failed after the version was made")

    with pytest.raises(RuntimeError):
        failing_request()
    assert not Delivery.objects.exists()
    assert receiver.requests == []


@override_settings(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=False)
def test_delivery__destination_now_private__refused_without_a_request(admin_user, create_template, committed, receiver):
    with override_settings(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=True):
        subscription, _ = subscribe(receiver, admin_user, events=["version.created"])
    committed(lambda: create_template())
    (delivery,) = Delivery.objects.filter(source=subscription.source)
    assert delivery.state == Delivery.State.FAILED
    assert "refused" in delivery.last_error
    assert receiver.requests == []


def test_events__deliveries_cannot_be_written__the_change_stands(admin_user, create_template, monkeypatch, receiver):
    from lifecycle.core.webhooks import services as webhook_services
    from lifecycle.releases.models import Deployment

    subscribe(receiver, admin_user, events=["version.created", "deployment.activated"])

    def broken_outbox(**kwargs: Any) -> None:
        raise RuntimeError("the outbox table is locked")

    monkeypatch.setattr(webhook_services, "notify", broken_outbox)
    # When the deliveries cannot be written
    template = create_template()
    # Then the template, its version and its deployment in development stand
    assert template.latest_version is not None
    assert Deployment.objects.filter(template_id=template.pk, state="active").exists()
    assert not Delivery.objects.exists()


@override_settings(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=True)
def test_api__private_address_allowed_by_the_setting__subscribed(api, admin_user):
    response = api.as_user(admin_user).post(WEBHOOKS, {"url": "http://10.1.2.3/hooks", "events": ["alert.fired"]})
    assert response.status_code == 201, response.json()
