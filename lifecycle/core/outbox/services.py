"""Every write of the outbox: queue notifications (`notify`), attempt them (`deliver`, `deliver_due`).

`notify` is what other apps call; the Celery tasks (lifecycle.core.outbox.tasks) call the other two. A
delivery is attempted once right after the caller's transaction commits and then, while it keeps failing in
a way that may pass, again after 10 s, 30 s, 90 s, ... (three times longer each time) until
OUTBOX_MAX_ATTEMPTS attempts, when it is marked failed. Nothing here ever raises into the caller because a
receiver or a mail server misbehaves: that is recorded on the delivery and its attempts.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import get_connection, send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from lifecycle.core.exceptions import InvalidInput
from lifecycle.core.outbox import webhooks
from lifecycle.core.outbox.models import Delivery, DeliveryAttempt
from lifecycle.core.outbox.monitoring import count_attempt
from lifecycle.core.outbox.webhooks import Answer, check_webhook_secret, check_webhook_url, new_webhook_secret

__all__ = [
    "check_emails",
    "check_webhook_secret",
    "check_webhook_url",
    "deliver",
    "deliver_due",
    "new_webhook_secret",
    "notify",
    "retry_delay",
]

logger = logging.getLogger(__name__)

MAX_EMAILS = 100
FIRST_RETRY_SECONDS = 10
BACKOFF_FACTOR = 3
# How long a worker holds a delivery it claimed. Longer than any one attempt can take (the worker's hard
# time limit, CELERY_TASK_TIME_LIMIT, ends a task by then), so only a worker that died lets it go early.
CLAIM_SECONDS = 300
# Django's SMTP backend waits forever unless EMAIL_TIMEOUT is set; an attempt must end.
EMAIL_TIMEOUT_SECONDS = 30.0
SWEEP_LIMIT = 100
_EVENT = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*")


def notify(
    *,
    event: str,
    payload: dict[str, Any],
    emails: Sequence[str] = (),
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    subject: str | None = None,
    source: str = "",
) -> list[Delivery]:
    """Queue `event` for delivery: one email to all of `emails` and/or one webhook POST of `payload` to
    `webhook_url` (None or "" for none), signed with `webhook_secret`. Returns the deliveries written, in
    that order (none when given no target).

    Call it inside the transaction of the change that causes the event: the deliveries are written in it, so
    a change rolled back sends nothing, and they are sent by a worker only after it commits. Raises
    InvalidInput (naming `emails`, `webhookUrl` or `webhookSecret`) for targets that can never work, before
    writing anything; after that, whatever happens to the delivery never reaches the caller.

    `subject` is the email's (default: "Prompt lifecycle: <event>"); `source` says who asked, as "kind:id" (e.g.
    "rule:<uuid>"), so that their own pages can list their deliveries (selectors.recent_deliveries).
    """
    if not isinstance(event, str) or len(event) > 100 or not _EVENT.fullmatch(event):
        raise InvalidInput.at("event", "must be an event name such as 'rollback.completed'")
    addresses = check_emails(emails)
    if webhook_url:
        check_webhook_url(webhook_url)
        check_webhook_secret(webhook_secret)
    body = _as_json(payload)
    now = timezone.now()
    common = {"event": event, "payload": body, "source": source[:100], "created_at": now, "next_attempt_at": now}
    deliveries = []
    with transaction.atomic():
        if addresses:
            deliveries.append(
                Delivery.objects.create(
                    channel=Delivery.Channel.EMAIL,
                    emails=addresses,
                    subject=_subject(subject or f"Prompt lifecycle: {event}"),
                    **common,
                )
            )
        if webhook_url:
            deliveries.append(
                Delivery.objects.create(
                    channel=Delivery.Channel.WEBHOOK,
                    webhook_url=webhook_url,
                    webhook_secret=webhook_secret or "",
                    **common,
                )
            )
        for delivery in deliveries:
            _queue_on_commit(delivery.pk)
    return deliveries


def check_emails(values: object, field: str = "emails") -> list[str]:
    """The addresses, each checked and each once; else InvalidInput naming `field` (a 400)."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise InvalidInput.at(field, "must be a list of email addresses")
    if len(values) > MAX_EMAILS:
        raise InvalidInput.at(field, f"must be at most {MAX_EMAILS} addresses")
    addresses: list[str] = []
    for value in values:
        try:
            if not isinstance(value, str):
                raise ValidationError("not text")
            validate_email(value)
        except ValidationError:
            raise InvalidInput.at(field, f"{str(value)[:100]!r} is not an email address") from None
        if value not in addresses:
            addresses.append(value)
    return addresses


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after `attempts` failed attempts: 10 s, 30 s, 90 s, 270 s, ..."""
    return timedelta(seconds=FIRST_RETRY_SECONDS * BACKOFF_FACTOR ** (attempts - 1))


def deliver(*, delivery_id: UUID | str, now: datetime | None = None) -> Delivery | None:
    """Attempt the delivery once if it is pending, due and has attempts left; None if it is not (or if
    another worker holds it). Never raises for what the receiver or the mail server does.

    Several workers may try the same delivery at once: one conditional UPDATE claims it (one more attempt,
    due again only after CLAIM_SECONDS), so exactly one of them sends. The attempt itself runs with no
    transaction open, since a receiver may take the whole timeout; its result is recorded under a row lock.
    `now` (default: the clock) is the time due dates are judged by and computed from.
    """
    now = now or timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, state=Delivery.State.PENDING, next_attempt_at__lte=now, attempts__lt=_max_attempts()
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
    if not claimed:
        return None
    delivery = Delivery.objects.get(pk=delivery_id)
    started = time.monotonic()
    answer = _attempt(delivery)
    duration_ms = round((time.monotonic() - started) * 1000)
    recorded = _record(
        delivery_id=delivery.pk, number=delivery.attempts, answer=answer, duration_ms=duration_ms, at=now
    )
    count_attempt(channel=delivery.channel, delivered=answer.delivered, gave_up=recorded.state == Delivery.State.FAILED)
    return recorded


def deliver_due(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> int:
    """Attempt the deliveries that are due (retries, and whatever a stopped worker left), oldest first;
    returns how many attempts were made. Safe on several workers at once (see deliver).

    Starts no new attempt after OUTBOX_WEBHOOK_TIMEOUT_SECONDS, so that unanswering receivers hold a worker
    for at most about twice that; the next sweep goes on. A delivery still due with no attempts left (its
    last attempt never reported back) is marked failed.
    """
    moment = now or timezone.now()
    _fail_abandoned(moment)
    due = list(
        Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=moment)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    started = time.monotonic()
    attempts = 0
    for delivery_id in due:
        if time.monotonic() - started > settings.OUTBOX_WEBHOOK_TIMEOUT_SECONDS:
            break
        if deliver(delivery_id=delivery_id, now=now) is not None:
            attempts += 1
    return attempts


def _max_attempts() -> int:
    return max(1, settings.OUTBOX_MAX_ATTEMPTS)


def _queue_on_commit(delivery_id: UUID) -> None:
    def queue_delivery() -> None:
        from lifecycle.core.outbox.tasks import deliver_notification  # the tasks module imports this one

        deliver_notification.delay(delivery_id=str(delivery_id))

    # robust: a broker that cannot be reached must not turn the caller's committed change into an error;
    # the sweep (deliver_due) sends what was not queued. (A function, not functools.partial: Django names
    # the callback by its __qualname__ when it logs that error.)
    transaction.on_commit(queue_delivery, robust=True)


def _as_json(payload: object) -> Any:
    """The payload as stored and sent: plain JSON (UUIDs, datetimes and decimals as Django writes them)."""
    if not isinstance(payload, dict):
        raise InvalidInput.at("payload", "must be a JSON object")
    try:
        return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    except (TypeError, ValueError) as exc:
        raise InvalidInput.at("payload", f"must be JSON: {exc}") from None


def _subject(text: str) -> str:
    # A line break in a subject would be a header injection: Django would refuse to send it at every attempt.
    return " ".join(text.split())[:200]


def _attempt(delivery: Delivery) -> Answer:
    try:
        if delivery.channel == Delivery.Channel.EMAIL:
            return _send_email(delivery)
        # The Standard Webhooks envelope: what happened (`type`), when, and its data.
        envelope = {
            "type": delivery.event,
            "timestamp": delivery.created_at.isoformat().replace("+00:00", "Z"),
            "data": delivery.payload,
        }
        body = webhooks.body_of(envelope)
        # Signed with the clock, not `now`: receivers compare the timestamp with theirs.
        headers = webhooks.signed_headers(secret=delivery.webhook_secret, message_id=str(delivery.pk), body=body)
        return webhooks.post(
            url=delivery.webhook_url, body=body, headers=headers, timeout=settings.OUTBOX_WEBHOOK_TIMEOUT_SECONDS
        )
    except Exception as exc:  # a bug or a broken backend: recorded like any failed attempt, and retried
        logger.exception("Delivery %s: the attempt failed unexpectedly", delivery.pk)
        return Answer(None, f"{type(exc).__name__}: {exc}", retry=True)


def _send_email(delivery: Delivery) -> Answer:
    try:
        connection = get_connection(timeout=settings.EMAIL_TIMEOUT or EMAIL_TIMEOUT_SECONDS)
        sent = send_mail(delivery.subject, _email_body(delivery), None, delivery.emails, connection=connection)
    except Exception as exc:  # SMTP, DNS, the backend: whatever it was, it may pass later
        return Answer(None, f"{type(exc).__name__}: {exc}", retry=True)
    return Answer(None) if sent else Answer(None, "the email backend sent nothing", retry=True)


def _email_body(delivery: Delivery) -> str:
    """The email's text: the event, then the payload's fields one per line (nested values as indented JSON)."""
    lines = [f"Event: {delivery.event}", ""]
    for key, value in sorted(delivery.payload.items()):
        if isinstance(value, dict | list):
            lines.append(f"{key}:")
            lines.extend(
                f"  {line}" for line in json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True).splitlines()
            )
        else:
            lines.append(f"{key}: {value if isinstance(value, str) else json.dumps(value)}")
    lines += ["", f"Sent by the prompt lifecycle server at {settings.PUBLIC_URL} (delivery {delivery.pk})."]
    return "\n".join(lines) + "\n"


@transaction.atomic
def _record(*, delivery_id: UUID, number: int, answer: Answer, duration_ms: int, at: datetime) -> Delivery:
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    DeliveryAttempt.objects.create(
        delivery=delivery,
        number=number,
        attempted_at=at,
        status_code=answer.status_code,
        error=answer.error,
        duration_ms=duration_ms,
    )
    if delivery.state != Delivery.State.PENDING:  # only if our claim outlived CLAIM_SECONDS; keep its outcome
        return delivery
    if answer.delivered:
        delivery.mark_delivered(at=at)
    elif not answer.retry or number >= _max_attempts():
        delivery.mark_failed(at=at, error=answer.error)
        logger.warning(
            "Delivery %s of %s failed after %d attempts: %s", delivery.pk, delivery.event, number, answer.error
        )
    else:
        delivery.last_error = answer.error
        delivery.next_attempt_at = at + retry_delay(number)
    delivery.save()
    return delivery


def _fail_abandoned(now: datetime) -> None:
    abandoned = Delivery.objects.filter(
        state=Delivery.State.PENDING, next_attempt_at__lte=now, attempts__gte=_max_attempts()
    ).values_list("pk", flat=True)
    for delivery_id in list(abandoned):
        with transaction.atomic():
            delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
            if delivery.state != Delivery.State.PENDING or delivery.attempts < _max_attempts():
                continue
            if delivery.next_attempt_at is None or delivery.next_attempt_at > now:
                continue
            if DeliveryAttempt.objects.filter(delivery=delivery, number=delivery.attempts).exists():
                reason = f"no attempts left (OUTBOX_MAX_ATTEMPTS is {_max_attempts()})"
            else:
                reason = f"attempt {delivery.attempts} never reported back (its worker stopped?)"
            delivery.mark_failed(at=now, error=f"{delivery.last_error}; {reason}" if delivery.last_error else reason)
            delivery.save()
