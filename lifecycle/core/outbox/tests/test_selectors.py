"""The selectors that pages listing deliveries (a subscription's, a rule's) will use."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifecycle.core.outbox.selectors import recent_attempts, recent_deliveries

pytestmark = pytest.mark.django_db


def test_recent_deliveries__newest_first_of_one_source_attempts_in_one_more_query(
    sent_deliveries, django_assert_num_queries
):
    # Given deliveries of two sources, some of them retried
    ours = sent_deliveries(3, source="rule:7", statuses=[500])
    sent_deliveries(2, source="webhook:9")

    # When one source's deliveries are read with their attempts
    with django_assert_num_queries(2):
        found = [(d.pk, [a.number for a in d.attempt_log.all()]) for d in recent_deliveries(source="rule:7")]

    # Then they are its own, newest first
    assert [pk for pk, _ in found] == [d.pk for d in reversed(ours)]
    assert all(numbers == [1] for _, numbers in found)


def test_recent_attempts__every_attempt_newest_first_with_its_delivery_in_one_query(sent_deliveries):
    made = sent_deliveries(3, source="rule:7", statuses=[500])
    sent_deliveries(1, source="webhook:9")
    with CaptureQueriesContext(connection) as queries:
        rows = [(a.delivery.event, a.delivery_id, a.status_code) for a in recent_attempts(source="rule:7")]
    assert len(queries) == 1
    assert [delivery_id for _, delivery_id, _ in rows] == [d.pk for d in reversed(made)]
    assert [status for _, _, status in rows] == [200, 200, 500]
