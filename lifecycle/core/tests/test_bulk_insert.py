"""insert_ignoring_conflicts within the connection's parameter limit, at any number of rows and columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from lifecycle.core.db.bulk import insert_ignoring_conflicts, max_query_params
from lifecycle.core.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


def _rows(names, beat_at=None):
    moment = connection.ops.adapt_datetimefield_value(beat_at or datetime(2026, 1, 1, tzinfo=UTC))
    return [[name, moment] for name in names]


def _insert(rows):
    return insert_ignoring_conflicts(WorkerHeartbeat, ["name", "beat_at"], rows, ["name"], "name")


def test_max_query_params__sqlite__the_connections_own_limit(parameter_limit):
    # Given a connection whose limit is lowered below Django's cautious 999
    parameter_limit(77)
    # Then the limit used for hand-written statements is the connection's
    assert max_query_params() == 77


def test_insert_ignoring_conflicts__more_parameters_than_the_limit__every_row_stored(parameter_limit):
    # Given a connection taking 11 parameters a statement: 5 rows of 2 columns
    parameter_limit(11)
    names = [f"worker-{index:02d}" for index in range(53)]
    # When 53 rows (106 parameters) are inserted at once, 3 of them stored before
    _insert(_rows(names[:3]))
    inserted = _insert(_rows(names))
    # Then the 50 new ones are stored and returned, the 3 others skipped
    assert sorted(inserted) == names[3:]
    assert WorkerHeartbeat.objects.count() == 53


def test_insert_ignoring_conflicts__a_later_statement_fails__nothing_stored(parameter_limit):
    # Given rows spread over several statements, the last of which breaks a rule (no time)
    parameter_limit(10)
    rows = _rows([f"worker-{index}" for index in range(20)])
    rows[-1][1] = None
    # When they are inserted
    with pytest.raises(IntegrityError), transaction.atomic():
        _insert(rows)
    # Then none of the earlier statements' rows stay: all or nothing
    assert not WorkerHeartbeat.objects.exists()


def test_insert_ignoring_conflicts__either_database__returns_the_new_rows_only():
    # Given one row stored an hour ago
    earlier = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(hours=1)
    _insert(_rows(["a"], beat_at=earlier))
    # When it is inserted again with two new ones
    inserted = _insert(_rows(["a", "b", "c"]))
    # Then only the new ones are returned, and the stored one is unchanged
    assert sorted(inserted) == ["b", "c"]
    assert WorkerHeartbeat.objects.get(name="a").beat_at == earlier


def test_insert_ignoring_conflicts__no_conflict_target_nor_returning__plain_insert_that_refuses_a_repeat():
    # Given one row stored
    _insert(_rows(["a"]))
    columns = ["name", "beat_at"]
    # When new rows are inserted without ON CONFLICT nor RETURNING (ingestion's executions, partitioned)
    inserted = insert_ignoring_conflicts(WorkerHeartbeat, columns, _rows(["b", "c"]), None, None)
    # Then they are stored and nothing is returned
    assert inserted == []
    assert sorted(WorkerHeartbeat.objects.values_list("name", flat=True)) == ["a", "b", "c"]
    # And a repeat is not skipped silently: the database refuses it
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_ignoring_conflicts(WorkerHeartbeat, columns, _rows(["a"]), None, None)
