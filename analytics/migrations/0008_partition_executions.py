"""Executions partitioned by day on PostgreSQL (analytics.partitions); the request-id dedup in its own table.

1. ExecutionRequest, filled from the executions that have a request id; then the executions' unique
   (template_id, request_id) goes: a partitioned table cannot keep a unique index without the partition key,
   and one per partition would not see a duplicate whose first report lies in another day.
2. PostgreSQL only (SQLite keeps its plain table): the executions table is rebuilt as a table PARTITION BY
   RANGE (executed_at), in this migration's transaction: the old table renamed, the new one created like it
   with a default partition and the partitions of the retention period's days that hold rows (and the next
   days'), the rows copied, the old table dropped, then the primary key, (id, executed_at) as PostgreSQL
   requires, and the indexes made on the parent (PostgreSQL makes each partition's). Indexes built after the
   copy rather than kept up row by row during it: several times faster.

Reversible: the way back rebuilds a plain table the same way, and the unique constraint returns.
"""

from datetime import UTC, timedelta

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

from analytics.partitions import DAYS_AHEAD, DEFAULT_PARTITION, PARENT, create_day_partition

OLD = f"{PARENT}_unpartitioned"
PKEY = f"{PARENT}_pkey"


def copy_request_ids(apps, schema_editor):
    qn = schema_editor.connection.ops.quote_name
    schema_editor.execute(
        f"INSERT INTO {qn('analytics_executionrequest')} (execution_id, template_id, request_id) "
        f"SELECT id, template_id, request_id FROM {qn(PARENT)} WHERE request_id IS NOT NULL"
    )


def partition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _rebuild(schema_editor, partitioned=True)


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _rebuild(schema_editor, partitioned=False)


def _rebuild(schema_editor, *, partitioned):
    """The executions table rebuilt, with its rows, indexes and primary key, partitioned or not."""
    connection = schema_editor.connection
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s",
            [PARENT],
        )
        # A partitioned table's index reads "ON ONLY table": made on the parent alone. Made anew here, on
        # the parent and every partition, or on the plain table.
        indexes = [(name, sql.replace(" ON ONLY ", " ON ")) for name, sql in cursor.fetchall() if name != PKEY]
        cursor.execute(f"SELECT min(executed_at) FROM {qn(PARENT)}")
        (earliest,) = cursor.fetchone()
        cursor.execute(f"SELECT a.attname FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 "
                       "AND NOT a.attisdropped ORDER BY a.attnum", [PARENT])  # fmt: skip
        columns = ", ".join(qn(name) for (name,) in cursor.fetchall())

        cursor.execute(f"ALTER TABLE {qn(PARENT)} RENAME TO {qn(OLD)}")
        # Index names are the schema's: freed for the new table's (the old table goes with its rows copied).
        cursor.execute(f"ALTER TABLE {qn(OLD)} DROP CONSTRAINT {qn(PKEY)}")
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {qn(name)}")
        like = f"(LIKE {qn(OLD)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)"
        if partitioned:
            cursor.execute(f"CREATE TABLE {qn(PARENT)} {like} PARTITION BY RANGE (executed_at)")
            cursor.execute(f"CREATE TABLE {qn(DEFAULT_PARTITION)} PARTITION OF {qn(PARENT)} DEFAULT")
            # Days of the retention period that hold rows (older rows wait in the default partition for
            # retention to delete them), today's and those ahead: none created needlessly.
            today = timezone.now().astimezone(UTC).date()
            first = today
            if earliest is not None:
                oldest_kept = today - timedelta(days=settings.EXECUTION_RETENTION_DAYS + 1)
                first = min(today, max(oldest_kept, earliest.astimezone(UTC).date()))
            last = today + timedelta(days=DAYS_AHEAD)
            day = first
            while day <= last:
                create_day_partition(cursor, day, move_from_default=False)  # the table is empty yet
                day += timedelta(days=1)
        else:
            cursor.execute(f"CREATE TABLE {qn(PARENT)} {like}")
        cursor.execute(f"INSERT INTO {qn(PARENT)} ({columns}) SELECT {columns} FROM {qn(OLD)}")
        cursor.execute(f"DROP TABLE {qn(OLD)}")  # and its partitions, on the way back
        key = "id, executed_at" if partitioned else "id"
        cursor.execute(f"ALTER TABLE {qn(PARENT)} ADD CONSTRAINT {qn(PKEY)} PRIMARY KEY ({key})")
        for _, sql in indexes:
            cursor.execute(sql)
        cursor.execute(f"ANALYZE {qn(PARENT)}")


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0007_encrypted_payloads'),
    ]

    operations = [
        migrations.CreateModel(
            name='ExecutionRequest',
            fields=[
                ('execution_id', models.UUIDField(primary_key=True, serialize=False)),
                ('template_id', models.UUIDField()),
                ('request_id', models.CharField(max_length=200)),
            ],
            options={
                'constraints': [
                    models.UniqueConstraint(fields=('template_id', 'request_id'), name='execution_request_unique'),
                ],
            },
        ),
        migrations.RunPython(copy_request_ids, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name='execution',
            name='execution_request',
        ),
        migrations.RunPython(partition, unpartition),
    ]
