"""Executions partitioned by day on PostgreSQL (analytics.partitions, migration 0007), the request-id dedup
that spans the partitions (ExecutionRequest), and retention dropping whole days. The PostgreSQL-only tests
skip on SQLite, where the table stays plain; the dedup and retention tests run on both."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from analytics.models import Execution, ExecutionRequest, HourlyStats
from analytics.partitions import (
    DAYS_AHEAD,
    DEFAULT_PARTITION,
    PARENT,
    create_execution_partitions,
    partition_name,
)
from analytics.rollups import roll_up_pending
from analytics.services import delete_expired_executions, read_reports, record_executions
from lifecycle.core.ids import uuid7
from lifecycle.testing.factories import ExecutionReportFactory

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite keeps one plain executions table"
)


def partitions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [PARENT],
        )
        return {name for (name,) in cursor.fetchall()}


def partition_of(execution_id) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {PARENT} WHERE id = %s", [execution_id])
        return cursor.fetchone()[0]


def report(version, moment: datetime, **overrides):
    return ExecutionReportFactory(version=version, timestamp=moment.isoformat(), **overrides)


def stored(rows, integration):
    """Store the reports through the services, each at its timestamp even if the API would refuse it as in
    the future (a day beyond those created ahead)."""
    moments = [datetime.fromisoformat(row["timestamp"]) for row in rows]
    for row in rows:
        row["timestamp"] = datetime.now(UTC).isoformat()
    reports = read_reports(rows, actor=integration)
    for checked, moment in zip(reports, moments, strict=True):
        checked.executed_at = moment
    return record_executions(reports)


def noon(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


@postgresql_only
def test_executions_table__postgresql__partitioned_by_range_of_executed_at_with_a_default():
    # Given the migrated database
    with connection.cursor() as cursor:
        # When its catalog is read
        cursor.execute(
            "SELECT p.partstrat, a.attname FROM pg_partitioned_table p "
            "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
            "WHERE p.partrelid = %s::regclass",
            [PARENT],
        )
        strategy_and_key = cursor.fetchone()
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
            [PARENT],
        )
        (primary_key,) = cursor.fetchone()
    # Then it is partitioned by range of executed_at, with a default partition and today's day
    assert strategy_and_key == ("r", "executed_at")
    assert primary_key == "PRIMARY KEY (id, executed_at)"
    today = datetime.now(UTC).date()
    assert {
        DEFAULT_PARTITION,
        partition_name(today),
        partition_name(today + timedelta(days=DAYS_AHEAD)),
    } <= partitions()


@postgresql_only
def test_create_execution_partitions__run_twice__days_ahead_created_once():
    # Given a day far ahead, with no partition yet
    start = datetime(2031, 3, 1, 15, tzinfo=UTC)
    expected = {partition_name(start.date() + timedelta(days=offset)) for offset in range(DAYS_AHEAD + 1)}
    assert not expected & partitions()
    # When the task's work runs twice
    first = create_execution_partitions(now=start)
    second = create_execution_partitions(now=start)
    # Then the first made that day and the days ahead, the second nothing
    assert set(first) == expected
    assert second == []
    assert expected <= partitions()


@postgresql_only
def test_execution__reported_now__lands_in_its_day_partition(api, integration, version, now):
    # When an execution of now is reported over the API
    response = api.as_user(integration).post("/api/executions", report(version, now))
    # Then it is stored in today's partition
    assert response.status_code == 201, response.json()
    assert partition_of(response.json()["id"]) == partition_name(now.date())


@postgresql_only
def test_execution__far_past_or_future__lands_in_the_default_partition_and_is_counted(
    api, integration, analyst, version, now
):
    # Given executions of a day long ago and of a day beyond those created ahead
    past = now - timedelta(days=400)
    future = now + timedelta(days=60)
    recorded = stored([report(version, past), report(version, future), report(version, now)], integration)
    ids = {execution.executed_at.date(): execution.id for execution in recorded.created}
    # Then both wait in the default partition (no report is refused for want of a day)
    assert partition_of(ids[past.date()]) == DEFAULT_PARTITION
    assert partition_of(ids[future.date()]) == DEFAULT_PARTITION
    # And the metrics count the past one (a window ends now), before and after the roll-up
    for _ in range(2):
        body = api.as_user(analyst).get("/api/performance/metrics", data={"versionId": str(version.pk)}).json()
        assert body["totalExecutions"] == 2
        roll_up_pending()


@postgresql_only
def test_create_execution_partitions__rows_of_the_day_in_the_default__moved_into_it(integration, version):
    # Given rows of a day far ahead stored before its partition existed (in the default partition)
    day = datetime(2032, 5, 10, 8, tzinfo=UTC)
    recorded = stored([report(version, day), report(version, day + timedelta(hours=3))], integration)
    assert {partition_of(execution.id) for execution in recorded.created} == {DEFAULT_PARTITION}
    # When the day's partition is created
    create_execution_partitions(now=day, days_ahead=0)
    # Then they moved into it, and none is lost or doubled
    assert {partition_of(execution.id) for execution in recorded.created} == {partition_name(day.date())}
    assert Execution.objects.filter(executed_at__date=day.date()).count() == 2


@postgresql_only
def test_delete_expired_executions__old_day__partition_dropped_straddling_day_rows_deleted_rollups_kept(
    integration, version
):
    # Given retention's cutoff (90 days before noon today) and partitions for the days around it
    now = noon(datetime.now(UTC))
    cutoff = now - timedelta(days=90)
    old_day = cutoff - timedelta(days=3)
    create_execution_partitions(now=old_day, days_ahead=4)  # from the old day to the day of the cutoff
    assert {partition_name(old_day.date()), partition_name(cutoff.date())} <= partitions()
    # And executions of the old day, on both sides of the cutoff in its day, and of yesterday, rolled up
    rows = [report(version, old_day), report(version, old_day + timedelta(hours=5))]
    rows += [report(version, cutoff - timedelta(hours=1)), report(version, cutoff + timedelta(hours=1))]
    rows += [report(version, now - timedelta(days=1))]
    stored(rows, integration)
    while roll_up_pending().executions:
        pass
    rolled_up = sum(HourlyStats.objects.values_list("executions", flat=True))
    # When retention runs
    deleted = delete_expired_executions(now=now)
    # Then the old day's partition is gone whole, the straddling day lost its expired row only
    assert deleted == 3
    assert partition_name(old_day.date()) not in partitions()
    assert partition_name(cutoff.date()) in partitions()
    assert sorted(Execution.objects.values_list("executed_at", flat=True)) == [
        cutoff + timedelta(hours=1),
        now - timedelta(days=1),
    ]
    # And the rollups still count every execution
    assert sum(HourlyStats.objects.values_list("executions", flat=True)) == rolled_up == 5


@postgresql_only
def test_delete_expired_executions__old_day_with_rows_not_rolled_up__kept_until_they_are(integration, version):
    # Given an expired day's partition holding rows of a batch still pending
    now = noon(datetime.now(UTC))
    old_day = now - timedelta(days=95)
    create_execution_partitions(now=old_day, days_ahead=0)
    stored([report(version, old_day)], integration)
    # When retention runs before the roll-up
    assert delete_expired_executions(now=now) == 0
    # Then the partition and its row stay; once rolled up, they go
    assert partition_name(old_day.date()) in partitions()
    roll_up_pending()
    assert delete_expired_executions(now=now) == 1
    assert partition_name(old_day.date()) not in partitions()
    assert not Execution.objects.exists()


def test_record__same_request_id_on_two_days__stored_once(integration, version, now):
    # Given a report stored (today's partition on PostgreSQL)
    first = stored([report(version, now, metadata={"requestId": "twice"})], integration)
    # When the same request id of the same template comes again, dated days before (another partition)
    again = stored([report(version, now - timedelta(days=3), metadata={"requestId": "twice"})], integration)
    # Then it is a duplicate, and one execution is stored
    assert len(first.created) == 1
    assert again.created == []
    assert len(again.duplicates) == 1
    assert Execution.objects.filter(request_id="twice").count() == 1
    assert ExecutionRequest.objects.get(request_id="twice").execution_id == first.created[0].id


def test_delete_expired_executions__request_ids_received_before_the_cutoff__forgotten(version, now):
    # Given request ids received 100 days ago and today (their execution ids are uuid7 of the reception)
    long_ago = int((now - timedelta(days=100)).timestamp() * 1000)
    old = ExecutionRequest.objects.create(execution_id=uuid7(long_ago), template_id=version.template_id, request_id="a")
    new = ExecutionRequest.objects.create(execution_id=uuid7(), template_id=version.template_id, request_id="b")
    # When retention runs
    delete_expired_executions(now=now)
    # Then the old one is forgotten, the new one kept
    assert list(ExecutionRequest.objects.values_list("pk", flat=True)) == [new.pk]
    assert not ExecutionRequest.objects.filter(pk=old.pk).exists()


_migration = importlib.import_module("analytics.migrations.0008_partition_executions")


@pytest.mark.django_db(transaction=True)
def test_migration_0007__table_with_rows__partitioned_with_every_row_and_request_id_kept(create_template, make_user):
    # Given the executions table as it was before 0007 (unique request ids per template), holding rows of
    # several days, some without a request id
    version = create_template(actor=make_user("author")).latest_version
    executor = MigrationExecutor(connection)
    executor.migrate([_migration.Migration.dependencies[0]])
    now = datetime.now(UTC)
    rows = [(now - timedelta(days=days, minutes=index), f"r{days}-{index}" if index % 3 else None)
            for days in (0, 1, 2, 30, 200) for index in range(40)]  # fmt: skip
    qn = connection.ops.quote_name
    params = [
        [
            uuid7().hex if connection.vendor == "sqlite" else uuid7(),
            (version.pk.hex if connection.vendor == "sqlite" else version.pk),
            (version.template_id.hex if connection.vendor == "sqlite" else version.template_id),
            moment if connection.vendor == "postgresql" else str(moment.replace(tzinfo=None)),
            request_id,
        ]
        for moment, request_id in rows
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {qn(PARENT)} (id, batch_id, version_id, template_id, environment, status, executed_at, "
            "received_at, response_time_ms, provider, region, user_agent, request_id, user_ref, variant_id, "
            "error_type, error_message, input, output) VALUES (%s, %s, %s, %s, 'production', 'success', %s, "
            "CURRENT_TIMESTAMP, 100, '', '', '', %s, '', '', '', '', '', '')",
            [[id_, id_, version_id, template_id, moment, request_id]
             for id_, version_id, template_id, moment, request_id in params],
        )  # fmt: skip
    try:
        # When 0007 runs
        executor = MigrationExecutor(connection)
        executor.migrate([("analytics", _migration.__name__.rsplit(".", 1)[1])])
        # Then every row is there, each request id is remembered for its execution
        assert Execution.objects.count() == len(rows)
        with_ids = [request_id for _, request_id in rows if request_id]
        assert sorted(ExecutionRequest.objects.values_list("request_id", flat=True)) == sorted(with_ids)
        if connection.vendor == "postgresql":
            # And on PostgreSQL the table is partitioned: recent rows in their days, the 200-day-old ones
            # (past retention) in the default partition
            made = partitions()
            for days in (0, 1, 2, 30):
                assert partition_name((now - timedelta(days=days)).date()) in made
            assert DEFAULT_PARTITION in made
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT count(*) FROM {DEFAULT_PARTITION}")
                assert cursor.fetchone()[0] == 40
                cursor.execute(f"SELECT count(*) FROM ONLY {PARENT}")
                assert cursor.fetchone()[0] == 0
    finally:
        Execution.objects.all().delete()
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
