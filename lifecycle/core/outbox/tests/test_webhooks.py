"""Webhook deliveries: signed as Standard Webhooks, retried with backoff, never raising into the caller."""

from __future__ import annotations

import json
import socket
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from standardwebhooks import Webhook

from lifecycle.core.exceptions import InvalidInput
from lifecycle.core.models import WorkerHeartbeat
from lifecycle.core.outbox import tasks, webhooks
from lifecycle.core.outbox.models import Delivery, DeliveryAttempt
from lifecycle.core.outbox.services import deliver, deliver_due, new_webhook_secret, notify

PAYLOAD = {"templateId": "3f1c", "environment": "production", "from": "1.0.1", "to": "1.0.0", "reason": "errors"}


def verified(secret, request):
    """The event's data, as a receiver reads it after checking the signature the Standard Webhooks way (raises
    if it is wrong), out of the envelope `{type, timestamp, data}`."""
    return Webhook(secret).verify(request.body, request.headers)["data"]


@pytest.mark.django_db
def test_notify__webhook__arrives_once_signed_so_that_standardwebhooks_verifies_it(receiver, secret, notify_and_commit):
    # When a rollback notifies a webhook and its transaction commits
    [delivery] = notify_and_commit(
        event="rollback.completed", payload=PAYLOAD, webhook_url=receiver.url, webhook_secret=secret
    )

    # Then the receiver got one POST of the payload as JSON, signed with the secret, with the delivery's id
    [request] = receiver.requests
    assert request.path == "/hooks/lifecycle"
    assert request.headers["content-type"] == "application/json"
    assert verified(secret, request) == PAYLOAD
    envelope = json.loads(request.body)
    assert envelope["type"] == "rollback.completed"
    assert envelope["timestamp"].endswith("Z")
    assert request.headers["webhook-id"] == str(delivery.pk)
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert request.headers["webhook-signature"].startswith("v1,")
    # and the delivery is delivered, its one attempt recorded
    assert delivery.state == Delivery.State.DELIVERED
    assert delivery.delivered_at is not None
    assert delivery.next_attempt_at is None
    [attempt] = delivery.attempt_log.all()
    assert (attempt.number, attempt.status_code, attempt.error) == (1, 200, "")
    # and nothing is sent again
    assert deliver_due(now=timezone.now() + timedelta(days=1)) == 0
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_notify__signed_with_another_secret__receiver_refuses_it(receiver, secret, notify_and_commit):
    notify_and_commit(event="alert.fired", payload=PAYLOAD, webhook_url=receiver.url, webhook_secret=secret)
    with pytest.raises(Exception, match="No matching signature"):
        verified(new_webhook_secret(), receiver.requests[0])


@pytest.mark.django_db
@override_settings(OUTBOX_MAX_ATTEMPTS=6)
def test_deliver__receiver_answers_500__retried_with_backoff_then_failed_every_attempt_recorded(
    receiver, secret, notify_and_commit
):
    # Given a receiver that always answers 500
    receiver.status = 500
    # When a delivery is made, and then swept at every moment it is due (and a second before)
    [delivery] = notify_and_commit(
        event="alert.fired", payload=PAYLOAD, webhook_url=receiver.url, webhook_secret=secret
    )
    assert delivery.state == Delivery.State.PENDING
    waits = []
    while delivery.state == Delivery.State.PENDING:
        due = delivery.next_attempt_at
        previous = delivery.attempt_log.get(number=delivery.attempts)
        waits.append((due - previous.attempted_at).total_seconds())
        assert deliver_due(now=due - timedelta(seconds=1)) == 0
        assert deliver_due(now=due) == 1
        delivery.refresh_from_db()

    # Then it waited 10 s, then three times longer each time, and failed after the sixth attempt
    assert waits == [10, 30, 90, 270, 810]
    assert delivery.state == Delivery.State.FAILED
    assert delivery.attempts == 6
    assert delivery.next_attempt_at is None
    assert delivery.last_error.startswith("HTTP 500")
    # with every attempt recorded, and every request the same message (one id), each correctly signed
    attempts = list(delivery.attempt_log.order_by("number"))
    assert [a.number for a in attempts] == [1, 2, 3, 4, 5, 6]
    assert {a.status_code for a in attempts} == {500}
    assert all(a.error.startswith("HTTP 500: answered 500") for a in attempts)
    assert all(a.duration_ms >= 0 for a in attempts)
    assert [a.attempted_at for a in attempts] == sorted(a.attempted_at for a in attempts)
    assert receiver.ids() == [str(delivery.pk)] * 6
    assert all(verified(secret, request) == PAYLOAD for request in receiver.requests)
    # and no seventh attempt, however long one waits
    assert deliver_due(now=timezone.now() + timedelta(days=30)) == 0
    assert len(receiver.requests) == 6


@pytest.mark.django_db
@pytest.mark.parametrize("status", [408, 429, 502, 503])
def test_deliver__receiver_busy_then_ok__retried_and_delivered(receiver, secret, notify_and_commit, status):
    receiver.statuses = [status]
    [delivery] = notify_and_commit(
        event="alert.fired", payload=PAYLOAD, webhook_url=receiver.url, webhook_secret=secret
    )
    assert delivery.state == Delivery.State.PENDING
    assert delivery.last_error.startswith(f"HTTP {status}")

    assert deliver_due(now=delivery.next_attempt_at) == 1

    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DELIVERED
    assert [a.status_code for a in delivery.attempt_log.order_by("number")] == [status, 200]
    assert receiver.ids() == [str(delivery.pk)] * 2


@pytest.mark.django_db
@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_deliver__receiver_answers_4xx__failed_at_once_never_retried(receiver, secret, notify_and_commit, status):
    receiver.status = status
    [delivery] = notify_and_commit(
        event="alert.fired", payload=PAYLOAD, webhook_url=receiver.url, webhook_secret=secret
    )

    assert delivery.state == Delivery.State.FAILED
    assert delivery.attempts == 1
    assert delivery.last_error.startswith(f"HTTP {status}")
    assert delivery.failed_at is not None
    assert deliver_due(now=timezone.now() + timedelta(days=1)) == 0
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_deliver__receiver_redirects__not_followed_and_failed(receiver, secret, notify_and_commit):
    receiver.status = 302
    [delivery] = notify_and_commit(
        event="alert.fired", payload=PAYLOAD, webhook_url=receiver.url, webhook_secret=secret
    )
    assert delivery.state == Delivery.State.FAILED
    assert "redirects are not followed" in delivery.last_error
    assert len(receiver.requests) == 1


@pytest.mark.django_db
@override_settings(OUTBOX_WEBHOOK_TIMEOUT_SECONDS=0.2)
def test_deliver__receiver_never_answers__times_out_and_is_retried(receiver, secret, notify_and_commit):
    # Given a receiver that takes the request and never answers
    receiver.hang = True
    # When a delivery is made
    started = time.monotonic()
    [delivery] = notify_and_commit(
        event="alert.fired", payload=PAYLOAD, webhook_url=receiver.url, webhook_secret=secret
    )
    # Then the attempt gave up after the timeout, and the caller was held no longer
    assert time.monotonic() - started < 3
    [attempt] = delivery.attempt_log.all()
    assert attempt.status_code is None
    assert attempt.error == "no answer within 0.2 s"
    assert 150 <= attempt.duration_ms < 3000
    # and it will be tried again
    assert delivery.state == Delivery.State.PENDING
    assert delivery.next_attempt_at == attempt.attempted_at + timedelta(seconds=10)


@pytest.mark.django_db
def test_deliver__nothing_listens__connection_error_recorded_and_retried(secret, notify_and_commit):
    with socket.socket() as probe:  # a port that was free a moment ago, closed again: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    [delivery] = notify_and_commit(
        event="alert.fired", payload=PAYLOAD, webhook_url=f"http://127.0.0.1:{port}/", webhook_secret=secret
    )
    [attempt] = delivery.attempt_log.all()
    assert attempt.status_code is None
    assert attempt.error.startswith("could not connect")
    assert delivery.state == Delivery.State.PENDING


@pytest.mark.django_db(transaction=True)
def test_notify__receiver_fails__caller_change_committed_and_nothing_raised(receiver, secret):
    # Given a receiver that fails
    receiver.status = 500
    # When a change notifies it in its transaction, which commits (and the first attempt runs, eagerly)
    with transaction.atomic():
        WorkerHeartbeat.objects.create(name="the change", beat_at=timezone.now())
        notify(event="rollback.completed", payload=PAYLOAD, webhook_url=receiver.url, webhook_secret=secret)
    # Then the change stands, the attempt was made and failed, and the delivery waits for its retry
    assert WorkerHeartbeat.objects.filter(name="the change").exists()
    assert len(receiver.requests) == 1
    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.State.PENDING
    assert delivery.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_notify__broker_unreachable_at_commit__change_committed_and_the_sweep_sends_it(receiver, secret, monkeypatch):
    # Given a broker that cannot take the task when the change commits
    def broker_down(**kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.deliver_notification, "delay", broker_down)
    # When a change notifies
    with transaction.atomic():
        WorkerHeartbeat.objects.create(name="the change", beat_at=timezone.now())
        notify(event="rollback.completed", payload=PAYLOAD, webhook_url=receiver.url, webhook_secret=secret)
    # Then the change stands and nothing was sent yet
    assert WorkerHeartbeat.objects.filter(name="the change").exists()
    assert receiver.requests == []
    # and the next sweep sends it
    assert deliver_due() == 1
    assert Delivery.objects.get().state == Delivery.State.DELIVERED
    assert len(receiver.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_notify__caller_transaction_rolled_back__nothing_written_nothing_sent(receiver, secret):
    from django.core import mail

    @transaction.atomic
    def change_that_fails():
        WorkerHeartbeat.objects.create(name="the change", beat_at=timezone.now())
        notify(
            event="rollback.completed",
            payload=PAYLOAD,
            emails=["oncall@example.com"],
            webhook_url=receiver.url,
            webhook_secret=secret,
        )
        raise RuntimeError("the rollback failed")

    # When a change notifies and then fails, rolling its transaction back
    with pytest.raises(RuntimeError):
        change_that_fails()
    assert not WorkerHeartbeat.objects.filter(name="the change").exists()
    # Then no delivery exists, none is ever sent
    assert Delivery.objects.count() == 0
    assert deliver_due(now=timezone.now() + timedelta(days=1)) == 0
    assert receiver.requests == []
    assert mail.outbox == []


@pytest.mark.django_db
def test_deliver__worker_dies_mid_send__sent_again_once_its_claim_lapses(receiver, secret, monkeypatch):
    # Given a delivery whose first attempt's worker died while sending (nothing recorded)
    class WorkerKilled(BaseException):
        pass

    def killed(**kwargs):
        raise WorkerKilled()

    with transaction.atomic():
        [delivery] = notify(event="alert.fired", payload=PAYLOAD, webhook_url=receiver.url, webhook_secret=secret)
    monkeypatch.setattr(webhooks, "post", killed)
    now = timezone.now()
    with pytest.raises(WorkerKilled):
        deliver(delivery_id=delivery.pk, now=now)
    monkeypatch.undo()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.attempt_log.count()) == ("pending", 1, 0)

    # When the sweep runs before and after the claim lapses
    assert deliver_due(now=now + timedelta(seconds=60)) == 0
    assert deliver_due(now=now + timedelta(minutes=5)) == 1

    # Then it was sent once, as attempt 2
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DELIVERED
    assert list(delivery.attempt_log.values_list("number", flat=True)) == [2]
    assert receiver.ids() == [str(delivery.pk)]


@pytest.mark.django_db
@override_settings(OUTBOX_MAX_ATTEMPTS=2)
def test_deliver_due__last_attempt_never_reported_back__failed_and_not_sent_again(receiver, secret):
    with transaction.atomic():
        [delivery] = notify(event="alert.fired", payload=PAYLOAD, webhook_url=receiver.url, webhook_secret=secret)
    # Its second and last attempt was claimed by a worker that then stopped
    Delivery.objects.filter(pk=delivery.pk).update(attempts=2, next_attempt_at=timezone.now())

    assert deliver_due() == 0

    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.FAILED
    assert "attempt 2 never reported back" in delivery.last_error
    assert receiver.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "gopher://example.com/",
        "example.com/hook",
        "http://",
        "http:///path",
        "https://exa mple.com/",
        "http://example.com:80x/",
        "http://user:password@example.com/",
        "http://example.com/\nX-Injected: 1",
        "http://<script>/",
        " http://example.com/",
        "https://" + "a" * 2000 + ".com/",
    ],
)
def test_notify__webhook_url_not_http_or_https__refused_naming_the_field_and_nothing_written(url, secret):
    with pytest.raises(InvalidInput) as refused:
        notify(event="alert.fired", payload=PAYLOAD, emails=["a@example.com"], webhook_url=url, webhook_secret=secret)
    assert refused.value.status == 400
    assert list(refused.value.fields) == ["webhookUrl"]
    assert Delivery.objects.count() == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "https://hooks.example.com/lifecycle?token=abc#part",
        "HTTPS://Hooks.Example.com/",
        "http://webhook-receiver:9000/in",  # a service name on a private network: no dot
        "http://[::1]:8000/",
        "https://bücher.example/hook",
    ],
)
def test_check_webhook_url__http_and_https_urls__accepted(url):
    assert webhooks.check_webhook_url(url) == url


def test_check_webhook_url__names_the_field_the_api_gives():
    with pytest.raises(InvalidInput) as refused:
        webhooks.check_webhook_url("ftp://x", field="notify.webhookUrl")
    assert refused.value.fields == {"notify.webhookUrl": ["must be an http:// or https:// URL"]}


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [None, "", "secret", "whsec_", "whsec_!!!!", "whsec_" + "QUFB" * 2])
def test_notify__webhook_without_a_usable_secret__refused_and_nothing_written(receiver, bad):
    with pytest.raises(InvalidInput) as refused:
        notify(event="alert.fired", payload=PAYLOAD, webhook_url=receiver.url, webhook_secret=bad)
    assert list(refused.value.fields) == ["webhookSecret"]
    assert Delivery.objects.count() == 0


def test_new_webhook_secret__fresh_each_time_and_usable_by_standardwebhooks():
    first, second = new_webhook_secret(), new_webhook_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert webhooks.check_webhook_secret(first) == first
    headers = webhooks.signed_headers(secret=first, message_id="msg_1", body='{"a":1}')
    assert Webhook(first).verify('{"a":1}', headers) == {"a": 1}


@pytest.mark.django_db
def test_notify__payload_with_uuids_and_datetimes__sent_as_json_strings(receiver, secret, notify_and_commit):
    import uuid

    ident, moment = uuid.uuid4(), timezone.now()
    notify_and_commit(
        event="alert.fired", payload={"ruleId": ident, "at": moment}, webhook_url=receiver.url, webhook_secret=secret
    )
    body = verified(secret, receiver.requests[0])
    assert body["ruleId"] == str(ident)
    assert body["at"].startswith(moment.strftime("%Y-%m-%dT%H:%M:%S"))


@pytest.mark.django_db
def test_notify__no_targets__nothing_written():
    # "" as well as None: a rule's blank URL field means "no webhook"
    assert notify(event="alert.fired", payload=PAYLOAD, emails=[], webhook_url="") == []
    assert notify(event="alert.fired", payload=PAYLOAD) == []
    assert Delivery.objects.count() == DeliveryAttempt.objects.count() == 0
