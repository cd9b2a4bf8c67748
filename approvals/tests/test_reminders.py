"""Reminders: reviewers of requests pending too long are emailed, once per request per period."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from approvals.models import ApprovalRequest
from approvals.services import remind_pending_reviewers
from approvals.tasks import remind_pending_reviewers as remind_task
from lifecycle.testing.concurrency import at_once


def age(request, hours):
    ApprovalRequest.objects.filter(pk=request.pk).update(submitted_at=timezone.now() - timedelta(hours=hours))


@pytest.fixture
def pending(workflow, author, reviewers, version):
    workflow.submit(author, version)
    return ApprovalRequest.objects.get(version=version)


@pytest.mark.django_db
def test_reminder__pending_over_a_day__emails_the_current_stages_reviewers(pending, reviewers, make_user):
    # Given a second technical reviewer, one without an email, and people of other roles
    other = make_user("technical", username="tom")
    other.email = "tom@example.com"
    other.save()
    make_user("technical", username="no-email")
    age(pending, 25)

    assert remind_pending_reviewers() == 1

    assert sorted(message.to[0] for message in mail.outbox) == ["technical@example.com", "tom@example.com"]
    message = mail.outbox[0]
    assert pending.version.template.name in message.subject
    assert "production" in message.subject
    assert f"/admin/approvals/approvalrequest/{pending.pk}/change/" in message.body
    assert "Its stage 1 is decided by the 'technical' role" in message.body  # numbered from 1 for people


@pytest.mark.django_db
def test_reminder__younger_than_a_day__nothing_sent(pending):
    age(pending, 23)
    assert remind_pending_reviewers() == 0
    assert mail.outbox == []


@pytest.mark.django_db
def test_reminder__once_per_period_not_on_every_run(pending):
    age(pending, 30)
    now = timezone.now()
    remind_pending_reviewers(now=now)
    remind_pending_reviewers(now=now + timedelta(minutes=15))
    remind_pending_reviewers(now=now + timedelta(hours=23))
    assert len(mail.outbox) == 1
    remind_pending_reviewers(now=now + timedelta(hours=24, minutes=1))
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_reminder__goes_to_the_current_stage_without_author_or_earlier_deciders(
    workflow, pending, reviewers, author, make_user
):
    both = make_user("technical", "qa", username="both")
    both.email = "both@example.com"
    both.save()
    author.groups.add(*reviewers["qa"].groups.all())  # the author holds the qa role too
    author.email = "author@example.com"
    author.save()
    workflow.approve(both, pending.version, 0)  # `both` decided stage 0; stage 1 (qa) is current
    age(pending, 25)
    remind_pending_reviewers()
    assert [message.to[0] for message in mail.outbox] == ["qa@example.com"]


@pytest.mark.django_db
def test_reminder__decided_requests__not_reminded(workflow, pending, reviewers):
    workflow.reject(reviewers["technical"], pending.version, 0, "no")
    age(pending, 48)
    assert remind_pending_reviewers() == 0


@pytest.mark.django_db
@override_settings(APPROVAL_REMINDER_AFTER_HOURS=2)
def test_reminder__age_is_configurable(pending):
    age(pending, 3)
    assert remind_pending_reviewers() == 1


@pytest.mark.django_db
def test_reminder__sending_fails__claim_undone_and_retried_next_run(pending, monkeypatch):
    age(pending, 25)

    def broken(*args, **kwargs):
        raise ConnectionError("mail server down")

    monkeypatch.setattr("approvals.services.send_mass_mail", broken)
    assert remind_pending_reviewers() == 0
    pending.refresh_from_db()
    assert pending.reminded_at is None
    monkeypatch.undo()
    assert remind_pending_reviewers() == 1


@pytest.mark.django_db
def test_reminder__one_request_fails__the_others_still_reminded(
    workflow, author, reviewers, create_template, monkeypatch
):
    from django.core.mail import send_mass_mail as real_send

    first, second = create_template().latest_version, create_template().latest_version
    for version in (first, second):
        workflow.submit(author, version)
        age(ApprovalRequest.objects.get(version=version), 25)
    failing = first.template.name

    def fails_for_first(messages, **kwargs):
        if any(failing in message[0] for message in messages):
            raise ConnectionError("refused")
        return real_send(messages, **kwargs)

    monkeypatch.setattr("approvals.services.send_mass_mail", fails_for_first)
    assert remind_pending_reviewers() == 1
    assert [m.subject for m in mail.outbox] == [f"Waiting for your review: {second.template.name} 1.0.0 for production"]
    assert ApprovalRequest.objects.get(version=first).reminded_at is None


@pytest.mark.django_db
def test_reminder__celery_task_runs_the_service(pending):
    age(pending, 25)
    assert remind_task.delay().get() == 1  # eager in tests; a real worker runs it in the end-to-end tests
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_reminder__two_workers_at_once__one_email(make_user, create_template):
    from approvals.services import submit_for_approval

    author = make_user("author")
    reviewer = make_user("technical")
    reviewer.email = "r@example.com"
    reviewer.save()
    version = create_template(actor=author).latest_version
    request = submit_for_approval(actor=author, version_id=version.pk, environment="production")
    age(request, 25)
    counts = at_once([remind_pending_reviewers, remind_pending_reviewers])
    assert sorted(counts) == [0, 1]
    assert len(mail.outbox) == 1
