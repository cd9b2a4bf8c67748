"""Several workers at once: each delivery is sent by exactly one of them."""

from __future__ import annotations

from functools import partial

import pytest
from django.db import transaction

from lifecycle.core.outbox.models import Delivery, DeliveryAttempt
from lifecycle.core.outbox.services import deliver, deliver_due, notify
from lifecycle.testing.concurrency import at_once

pytestmark = pytest.mark.django_db(transaction=True)


def failed_once(receiver, secret, count):
    """`count` webhook deliveries whose first attempt got a 503: each due for its retry 10 s later."""
    receiver.status = 503
    with transaction.atomic():
        deliveries = [
            notify(event="alert.fired", payload={"n": n}, webhook_url=receiver.url, webhook_secret=secret)[0]
            for n in range(count)
        ]
    assert len(receiver.requests) == count
    receiver.requests.clear()
    receiver.status = 200
    # Each request takes a while, so that the workers' sweeps overlap.
    receiver.delay = 0.05
    return [Delivery.objects.get(pk=d.pk) for d in deliveries]


def test_deliver_due__four_workers_sweep_at_once__each_delivery_sent_exactly_once(receiver, secret):
    # Given eight deliveries due for a retry
    deliveries = failed_once(receiver, secret, 8)
    retry_at = max(d.next_attempt_at for d in deliveries)

    # When four workers sweep at the same moment
    outcomes = at_once([partial(deliver_due, now=retry_at)] * 4)

    # Then between them they made eight attempts, one per delivery, and each was received once
    assert all(isinstance(outcome, int) for outcome in outcomes), outcomes
    assert sum(outcomes) == 8
    assert sorted(receiver.ids()) == sorted(str(d.pk) for d in deliveries)
    assert set(Delivery.objects.values_list("state", flat=True)) == {"delivered"}
    assert DeliveryAttempt.objects.filter(number=2).count() == 8
    assert DeliveryAttempt.objects.count() == 16


def test_deliver__five_workers_take_the_same_delivery_at_once__sent_once(receiver, secret):
    [delivery] = failed_once(receiver, secret, 1)

    outcomes = at_once([partial(deliver, delivery_id=delivery.pk, now=delivery.next_attempt_at)] * 5)

    assert sum(isinstance(outcome, Delivery) for outcome in outcomes) == 1, outcomes
    assert outcomes.count(None) == 4
    assert receiver.ids() == [str(delivery.pk)]
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 2)
