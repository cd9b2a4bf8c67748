"""Executions on PostgreSQL, partitioned by day of executed_at (declarative partitioning).

Why: retention then drops a whole day's table, which costs the same at any volume and leaves nothing for
vacuum to clean, where deleting a day of rows (a million, on a busy install) wrote every one of them to the
WAL, then left dead tuples and bloated indexes behind. Queries and roll-ups are unchanged: their conditions on
executed_at let the planner skip the days outside a window.

Why a day: 90 days of retention make about a hundred partitions (with those created ahead and the default),
which the planner prunes at no measurable cost; the rollups' own periods are hours inside UTC days, so no
query range cuts a partition badly; and the partition that straddles the retention cutoff, whose expired rows
are still deleted row by row, holds at most a day. Hourly partitions would be two thousand tables; weekly ones
would leave up to a week of rows to delete one by one.

The partitions: `analytics_execution_pYYYYMMDD` holds [that day 00:00 UTC, the next day 00:00 UTC), created
DAYS_AHEAD days ahead by a beat task (analytics.create_execution_partitions, hourly) and after every
`migrate`; `analytics_execution_default` holds whatever falls outside them (a report of long ago, or one
from beyond the days created ahead), so that no report is ever refused for want of a partition. Retention
deletes the default partition's expired rows with the straddling day's.

A day is created as a plain table, filled with the rows of its range that already sit in the default
partition, then attached (PostgreSQL refuses to create a partition whose rows are in the default one).
ATTACH PARTITION takes only a SHARE UPDATE EXCLUSIVE lock on the parent, which neither ingestion nor the
queries wait for (CREATE TABLE ... PARTITION OF would take an ACCESS EXCLUSIVE one); it locks the default
partition while it checks it, which is why the default must stay small. SQLite keeps one plain table: none of
this runs there.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, time, timedelta

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

logger = logging.getLogger(__name__)

PARENT = "analytics_execution"
DEFAULT_PARTITION = f"{PARENT}_default"
# Ahead of today: a week of beat runs may fail (the database busy, the beat down) before a day's reports
# would fall into the default partition; and they would still be stored, and moved at the day's creation.
DAYS_AHEAD = 7
# DDL waits this long for its lock, then gives up until the next run, rather than queueing every insert and
# query behind it while a long query holds the table.
LOCK_TIMEOUT = "5s"
# pg_advisory_xact_lock's key: two creators (the beat task and a `migrate`) take turns.
_ADVISORY_KEY = 0x65786563_70617274  # "execpart"
_NAME = re.compile(rf"^{PARENT}_p(\d{{8}})$")


def partition_name(day: date) -> str:
    """The name of the partition of one UTC day."""
    return f"{PARENT}_p{day:%Y%m%d}"


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of one UTC day."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def _literal(moment: datetime) -> str:
    """A bound as DDL takes it (no parameters in DDL): generated from a date, never from input."""
    return f"'{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}+00'"


def is_partitioned(connection: BaseDatabaseWrapper | None = None) -> bool:
    """Whether the executions table is partitioned here (PostgreSQL after migration 0007)."""
    connection = connection or connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [PARENT])
        return cursor.fetchone() is not None


def day_partitions(cursor: CursorWrapper) -> dict[date, str]:
    """The executions table's day partitions, by day (the default partition is not one)."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        [PARENT],
    )
    found = {}
    for (name,) in cursor.fetchall():
        if match := _NAME.match(name):
            found[datetime.strptime(match.group(1), "%Y%m%d").date()] = name  # noqa: DTZ007 (a date)
    return found


def create_day_partition(cursor: CursorWrapper, day: date, *, move_from_default: bool = True) -> None:
    """Create and attach the partition of `day`, with the rows of its range that sit in the default partition.
    Call in a transaction: until the ATTACH, the rows moved are in neither place for other sessions."""
    qn = cursor.db.ops.quote_name
    name, (start, end) = qn(partition_name(day)), day_bounds(day)
    parent, default = qn(PARENT), qn(DEFAULT_PARTITION)
    cursor.execute(f"CREATE TABLE {name} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)")
    if move_from_default:
        # The parent first, then the default: the order ingestion takes them in, so no deadlock. Held until
        # the ATTACH, so that no row of the range lands in the default partition after the move.
        cursor.execute(f"LOCK TABLE {parent} IN SHARE UPDATE EXCLUSIVE MODE")
        cursor.execute(f"LOCK TABLE {default} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {default} WHERE executed_at >= %s AND executed_at < %s RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved",
            [start, end],
        )
        if cursor.rowcount:
            logger.info("executions: %s rows moved from the default partition into %s", cursor.rowcount, name)
    # Creates the partition's copies of the parent's indexes (and primary key) as it attaches it.
    cursor.execute(
        f"ALTER TABLE {parent} ATTACH PARTITION {name} FOR VALUES FROM ({_literal(start)}) TO ({_literal(end)})"
    )


def create_execution_partitions(
    *, now: datetime | None = None, days_ahead: int = DAYS_AHEAD, using: str = DEFAULT_DB_ALIAS
) -> list[str]:
    """Create the partitions of today and the next `days_ahead` days (UTC) that do not exist yet; their names.
    Idempotent, and safe to run from several processes at once. Nothing on SQLite or an unpartitioned table.
    A day whose lock is not had within LOCK_TIMEOUT is left to the next run (logged)."""
    connection = connections[using]
    if not is_partitioned(connection):
        return []
    today = (now or timezone.now()).astimezone(UTC).date()
    with connection.cursor() as cursor:
        existing = day_partitions(cursor)
    created = []
    for day in (today + timedelta(days=offset) for offset in range(days_ahead + 1)):
        if day in existing:
            continue
        try:
            with transaction.atomic(using=using), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_KEY])
                if day in day_partitions(cursor):  # another process created it meanwhile
                    continue
                create_day_partition(cursor, day)
        except OperationalError:
            logger.warning("executions: partition of %s not created (lock timeout); the next run tries again", day)
            continue
        created.append(partition_name(day))
    if created:
        logger.info("executions: partitions created: %s", ", ".join(created))
    return created


def drop_expired_partitions(cutoff: datetime, *, using: str = DEFAULT_DB_ALIAS) -> int:
    """Drop the day partitions that end at or before `cutoff`, unless they hold rows of a batch not rolled up
    yet (the rollups would never count them: their rows are deleted one by one once rolled up). Returns how
    many rows the dropped partitions held. A partition whose lock is not had within LOCK_TIMEOUT is left:
    the caller's row deletion removes its rows instead."""
    connection = connections[using]
    if not is_partitioned(connection):
        return 0
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        expired = sorted((day, name) for day, name in day_partitions(cursor).items() if day_bounds(day)[1] <= cutoff)
    dropped = 0
    for day, name in expired:
        table = qn(name)
        with connection.cursor() as cursor:
            # Counted before the lock, not under it: a count reads the whole day, which would hold every
            # insert and query for its length. A late report stored meanwhile goes uncounted (not kept).
            cursor.execute(f"SELECT count(*) FROM {table}")
            (rows,) = cursor.fetchone()
        try:
            with transaction.atomic(using=using), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                # DETACH and DROP need it anyway; taken first, so that nothing lands in the partition between
                # the check below and the drop.
                cursor.execute(f"LOCK TABLE {qn(PARENT)} IN ACCESS EXCLUSIVE MODE")
                cursor.execute(
                    f"SELECT EXISTS (SELECT 1 FROM {table} WHERE batch_id IN (SELECT id FROM analytics_pendingbatch))"
                )
                if cursor.fetchone()[0]:
                    logger.info("executions: %s holds rows not rolled up yet: kept until they are", name)
                    continue
                cursor.execute(f"ALTER TABLE {qn(PARENT)} DETACH PARTITION {table}")
                cursor.execute(f"DROP TABLE {table}")
        except OperationalError:
            logger.warning("executions: %s not dropped (lock timeout); its rows are deleted instead", name)
            continue
        logger.info("executions: %s dropped (%s rows, the day of %s)", name, rows, day)
        dropped += rows
    return dropped
