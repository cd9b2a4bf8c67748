"""Email deliveries: through Django's email framework, readable, retried when the mail server fails."""

from __future__ import annotations

import smtplib

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import override_settings

from lifecycle.core.exceptions import InvalidInput
from lifecycle.core.outbox.models import Delivery
from lifecycle.core.outbox.services import deliver_due, notify

pytestmark = pytest.mark.django_db

PAYLOAD = {
    "template": "Support bot",
    "environment": "production",
    "from": "1.0.1",
    "to": "1.0.0",
    "automatic": True,
    "evidence": {"metric": "error_rate", "observed": 0.31, "baseline": 0.02},
}


class BrokenEmailBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def test_notify__emails__one_message_to_all_addresses_with_subject_and_readable_body(notify_and_commit):
    # When a rollback notifies two people
    [delivery] = notify_and_commit(
        event="rollback.completed",
        payload=PAYLOAD,
        emails=["oncall@example.com", "lead@example.com"],
        subject="Support bot rolled back in production",
    )

    # Then one email went to both, with the subject, its body the event and the payload line by line
    [message] = mail.outbox
    assert message.to == ["oncall@example.com", "lead@example.com"]
    assert message.subject == "Support bot rolled back in production"
    assert message.from_email == "prompt-lifecycle@localhost"
    assert message.body.startswith("Event: rollback.completed\n")
    for line in ("template: Support bot", "environment: production", "from: 1.0.1", "to: 1.0.0", "automatic: true"):
        assert f"\n{line}\n" in message.body
    assert '\nevidence:\n  {\n    "baseline": 0.02,\n' in message.body
    assert str(delivery.pk) in message.body
    # and the delivery is delivered, its attempt recorded
    assert delivery.state == Delivery.State.DELIVERED
    assert delivery.channel == Delivery.Channel.EMAIL
    [attempt] = delivery.attempt_log.all()
    assert (attempt.number, attempt.status_code, attempt.error) == (1, None, "")


def test_notify__emails_without_subject__subject_names_the_event(notify_and_commit):
    notify_and_commit(event="alert.fired", payload={"rule": "p95 above 5 s"}, emails=["oncall@example.com"])
    assert mail.outbox[0].subject == "Prompt lifecycle: alert.fired"


def test_notify__subject_with_line_breaks__sent_on_one_line(notify_and_commit):
    [delivery] = notify_and_commit(
        event="alert.fired", payload={}, emails=["a@example.com"], subject="Alert\r\nBcc: everyone@example.com"
    )
    assert delivery.state == Delivery.State.DELIVERED
    assert mail.outbox[0].subject == "Alert Bcc: everyone@example.com"
    assert mail.outbox[0].bcc == []


def test_notify__same_address_twice__one_message_to_it_once(notify_and_commit):
    notify_and_commit(event="alert.fired", payload={}, emails=["a@example.com", "a@example.com"])
    assert mail.outbox[0].to == ["a@example.com"]


def test_notify__mail_server_fails__caller_unharmed_then_retried_and_sent(notify_and_commit):
    # Given a mail server that drops the connection
    with override_settings(EMAIL_BACKEND=f"{__name__}.BrokenEmailBackend"):
        [delivery] = notify_and_commit(event="alert.fired", payload=PAYLOAD, emails=["oncall@example.com"])
    # Then the caller got its delivery back, and the failure is recorded for a retry
    assert delivery.state == Delivery.State.PENDING
    assert delivery.last_error == "SMTPServerDisconnected: Connection unexpectedly closed"
    assert mail.outbox == []
    # When the server is back and the retry is due
    assert deliver_due(now=delivery.next_attempt_at) == 1
    # Then it is sent
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DELIVERED
    assert len(mail.outbox) == 1
    assert [a.error for a in delivery.attempt_log.order_by("number")] == [
        "SMTPServerDisconnected: Connection unexpectedly closed",
        "",
    ]


def test_notify__emails_and_webhook__one_delivery_each(notify_and_commit, receiver, secret):
    deliveries = notify_and_commit(
        event="rollback.completed",
        payload=PAYLOAD,
        emails=["oncall@example.com"],
        webhook_url=receiver.url,
        webhook_secret=secret,
    )
    assert [d.channel for d in deliveries] == ["email", "webhook"]
    assert [d.target for d in deliveries] == ["oncall@example.com", receiver.url]
    assert all(d.state == Delivery.State.DELIVERED for d in deliveries)
    assert len(mail.outbox) == len(receiver.requests) == 1


@pytest.mark.parametrize(
    "emails", ["oncall@example.com", ["not an address"], ["a@example.com", 7], [None], ["a@b@example.com"], 42]
)
def test_notify__emails_not_a_list_of_addresses__refused_naming_the_field_and_nothing_written(emails):
    with pytest.raises(InvalidInput) as refused:
        notify(event="alert.fired", payload={}, emails=emails)
    assert list(refused.value.fields) == ["emails"]
    assert Delivery.objects.count() == 0
