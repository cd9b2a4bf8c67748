"""The outbox: notifications (emails, webhooks) that any app writes with its events and a Celery worker sends.

How to use it, from a service of any app (this is layer 0: every app may import it):

    from lifecycle.core.outbox.services import notify

    @transaction.atomic
    def roll_back(...):
        ...  # the change itself
        notify(
            event="rollback.completed",
            payload={"templateId": str(template.pk), "environment": "production", "from": "1.0.1", "to": "1.0.0"},
            emails=rule.notify_emails,           # one email to all of them; () for none
            webhook_url=rule.webhook_url,        # one signed POST of the payload; None or "" for none
            webhook_secret=rule.webhook_secret,  # required with a URL; make one with new_webhook_secret()
            subject="Production rolled back",    # the email's (default "Prompt lifecycle: <event>")
            source=f"rule:{rule.pk}",            # optional: who asked, to list their deliveries later
        )

`services.notify(*, event, payload, emails=(), webhook_url=None, webhook_secret=None, subject=None,
source="") -> list[Delivery]` must be called inside the caller's transaction: it writes one `Delivery` row
per target there, so a change rolled back sends nothing, and queues the first attempt for after the commit.
It raises InvalidInput (a 400 naming `emails`, `webhookUrl` or `webhookSecret`) only for targets that can
never work, before writing anything. After that nothing reaches the caller: a receiver that fails, hangs or
refuses is retried with backoff (10 s, 30 s, 90 s, ... up to OUTBOX_MAX_ATTEMPTS), then marked failed, and
every attempt is recorded (`DeliveryAttempt`: status code or error, duration, when).

For API layers that take these inputs (e.g. a rule's `notify: {"emails", "webhookUrl"}`), the same checks
with the field named as the API names it: `check_webhook_url(value, field="notify.webhookUrl") -> str`,
`check_emails(values, field=...) -> list[str]`, `check_webhook_secret(value, field=...) -> str`; and
`new_webhook_secret() -> str` makes a subscription's or rule's secret (`whsec_` + base64; show it once).
All four are importable from `lifecycle.core.outbox.services`.

Reads: `selectors.recent_deliveries(*, source=None, event=None, state=None)` (newest first, attempts
prefetched) and `selectors.recent_attempts(*, source=None)` (every attempt newest first, with its delivery).

Webhooks are POSTs of the payload as JSON, signed as Standard Webhooks do (`webhook-id`: the delivery's id,
the same on every retry; `webhook-timestamp`; `webhook-signature: v1,<base64 HMAC-SHA256 of
id.timestamp.body>`): receivers verify them with `standardwebhooks.Webhook(secret).verify(body, headers)`.
A 2xx is delivered; 408, 429, 5xx, timeouts (OUTBOX_WEBHOOK_TIMEOUT_SECONDS) and connection errors are
retried; any other answer (other 4xx, and 3xx: redirects are not followed) fails at once. Emails go through
Django's email framework (EMAIL_URL); any error sending one is retried.

Tasks (lifecycle.core.outbox.tasks): `core.deliver_notification` (queued on commit) and
`core.sweep_notifications` (beat, every OUTBOX_SWEEP_SECONDS). A delivery is claimed with one conditional
UPDATE before it is sent, so several workers never send it twice; a worker that dies mid-send leaves it to
be picked up again after services.CLAIM_SECONDS (receivers may then see one `webhook-id` twice).
"""
