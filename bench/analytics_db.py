"""The analytics benchmark's work on the database itself, with its driver (sqlite3, psycopg), not the server.

Run by bench/analytics.py with the server's environment (DATABASE_URL for PostgreSQL, else the SQLite file
in LIFECYCLE_DATA_DIR); prints its result as JSON, alone on the last line of stdout. Commands:

- direct: insert executions like those posted to the API straight into the executions table (`--into live`:
  the table as the API left it, the inserted rows deleted afterwards) or into an empty copy of it (`--into
  copy`: same columns and indexes), executemany in batches, one transaction each: the rate the database
  itself allows.
- drain: wait until the worker has folded every pending batch into the rollups; how long that took.
- settle: give PostgreSQL a vacuum, planner statistics and a checkpoint after the ingestion (autovacuum and
  time would), so that the queries are measured on a quiet database.
- raw: the time the database takes to compute count, average and p95 of the response times of a version or
  a template (in a window) with one plain SQL query over the raw rows: the baseline the API is compared to.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as a script, bench/ comes first on the path: the project must be there for bench.analytics.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.analytics import DAYS, RowMaker, Targets, batch_rows, sorted_moments

TABLE = "analytics_execution"
COPY = "bench_direct"
# analytics.models.Execution's columns, in the order analytics.services stores a report.
COLUMNS = (
    "id", "version_id", "template_id", "environment", "status", "executed_at", "received_at", "response_time_ms",
    "input_tokens", "output_tokens", "total_tokens", "cost", "provider", "region", "user_agent", "request_id",
    "user_ref", "user_satisfaction", "converted", "ab_test_id", "variant_id", "error_type", "error_message",
    "input", "output", "subject_ref", "batch_id",
)  # fmt: skip


class Database:
    """One connection, PostgreSQL's (psycopg) or SQLite's (sqlite3), and how each takes its values."""

    def __init__(self) -> None:
        url = os.environ.get("DATABASE_URL")
        self.vendor = "postgresql" if url else "sqlite"
        if url:
            import psycopg

            # Autocommit: each `with transaction()` is then exactly one BEGIN ... COMMIT.
            self.pg = psycopg.connect(url, autocommit=True)
            self.placeholder = "%s"
        else:
            path = Path(os.environ.get("LIFECYCLE_DATA_DIR", "var")) / "db.sqlite3"
            if not path.exists():
                raise SystemExit(f"no SQLite database at {path}")
            # As the server opens it (lifecycle/settings.py): WAL, synchronous NORMAL, checkpoints left to the
            # worker, memory-mapped; transactions IMMEDIATE. The same database settings: only the code differs.
            self.lite = sqlite3.connect(path, timeout=20, isolation_level=None)
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "wal_autocheckpoint=20000",
                "mmap_size=1073741824",
            ):
                self.lite.execute(f"PRAGMA {pragma}")
            self.placeholder = "?"

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of one statement."""
        if self.vendor == "postgresql":
            with self.pg.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
        return self.lite.execute(sql, params).fetchall()

    def uuid(self, value: str) -> uuid.UUID | str:
        """A UUID as Django passes it: native for psycopg, 32 hex digits for SQLite (char(32))."""
        parsed = uuid.UUID(value)
        return parsed if self.vendor == "postgresql" else parsed.hex

    def moment(self, value: datetime) -> datetime | str:
        """A datetime as Django passes it (adapt_datetimefield_value): aware for psycopg, naive UTC text for SQLite."""
        return value if self.vendor == "postgresql" else str(value.astimezone(UTC).replace(tzinfo=None))

    def delete(self, sql: str, params: Sequence[Any]) -> int:
        """Run a DELETE in its own transaction; how many rows it deleted."""
        if self.vendor == "postgresql":
            with self.pg.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.rowcount
        self.lite.execute("BEGIN IMMEDIATE")
        deleted = self.lite.execute(sql, params).rowcount
        self.lite.execute("COMMIT")
        return deleted

    def columns(self, table: str) -> set[str]:
        """The table's column names."""
        if self.vendor == "postgresql":
            sql = "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
            return {name for (name,) in self.query(sql, [table])}
        return {row[1] for row in self.query(f'PRAGMA table_info("{table}")')}

    def copy_table(self) -> None:
        """A fresh copy of the executions table with the same columns and indexes, and no rows."""
        self.query(f'DROP TABLE IF EXISTS "{COPY}"')
        if self.vendor == "postgresql":
            self.query(f'CREATE TABLE "{COPY}" (LIKE "{TABLE}" INCLUDING ALL)')
            return
        # SQLite: the table's and its indexes' own DDL, renamed (UNIQUE's automatic index comes with the table).
        statements = self.query(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL", [TABLE]
        )
        for kind, name, sql in sorted(statements, key=lambda row: row[0] != "table"):
            if kind == "table":
                renamed = sql.replace(f'CREATE TABLE "{TABLE}"', f'CREATE TABLE "{COPY}"', 1)
            else:
                renamed = re.sub(
                    rf'^CREATE (UNIQUE )?INDEX "{re.escape(name)}" ON "{TABLE}"',
                    rf'CREATE \1INDEX "{COPY}_{name}" ON "{COPY}"',
                    sql,
                )
            if renamed == sql:
                raise SystemExit(f"could not rename the DDL of {name}: {sql}")
            self.query(renamed)

    def insert_batches(self, table: str, batches: list[list[tuple[Any, ...]]]) -> float:
        """executemany each batch in its own transaction; the seconds it all took."""
        names = ", ".join(f'"{column}"' for column in COLUMNS)
        sql = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join([self.placeholder] * len(COLUMNS))})'
        started = time.perf_counter()
        if self.vendor == "postgresql":
            with self.pg.cursor() as cursor:
                for rows in batches:
                    with self.pg.transaction():
                        cursor.executemany(sql, rows)
        else:
            for rows in batches:
                self.lite.execute("BEGIN IMMEDIATE")
                self.lite.executemany(sql, rows)
                self.lite.execute("COMMIT")
        return time.perf_counter() - started


def uuid7() -> uuid.UUID:
    """A time-ordered id, as lifecycle.core.ids.uuid7 makes them (the server's ids for executions)."""
    millis = int(time.time() * 1000)
    value = (millis & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(os.urandom(10), "big") & ((1 << 80) - 1)
    value = value & ~(0xF << 76) | (0x7 << 76)
    value = value & ~(0x3 << 62) | (0x2 << 62)
    return uuid.UUID(int=value)


def stored_row(
    db: Database, report: dict[str, Any], template_of: dict[str, str], received_at: datetime, batch_id: str
) -> tuple:
    """A reported execution as analytics.reports and analytics.services store it, in COLUMNS' order."""
    usage, metadata, error = report.get("tokenUsage", {}), report.get("metadata", {}), report.get("error") or {}
    given_input, given_output = report.get("input"), report.get("output")
    version = report["templateVersionId"]
    return (
        db.uuid(str(uuid7())),
        db.uuid(version),
        db.uuid(template_of[version]),
        report.get("environment", "production"),
        report["status"],
        db.moment(datetime.fromisoformat(report["timestamp"])),
        db.moment(received_at),
        float(report["responseTime"]),
        usage.get("inputTokens"),
        usage.get("outputTokens"),
        usage.get("totalTokens"),
        usage.get("cost"),
        report.get("provider", ""),
        metadata.get("region", ""),
        metadata.get("userAgent", ""),
        metadata.get("requestId"),
        report.get("userId", ""),
        report.get("userSatisfaction"),
        report.get("converted"),
        None,
        "",
        error.get("type") or ("" if report["status"] == "success" else report["status"]),
        error.get("message", ""),
        "" if given_input is None else given_input if isinstance(given_input, str) else json.dumps(given_input),
        "" if given_output is None else given_output if isinstance(given_output, str) else json.dumps(given_output),
        report.get("subjectId", ""),
        db.uuid(batch_id),  # last: the caller deletes the rows by it
    )


def direct(args: argparse.Namespace) -> dict[str, Any]:
    """Insert `rows` fresh executions (new ids and request ids) into the table or its copy; rows and seconds."""
    db = Database()
    if db.columns(TABLE) != set(COLUMNS):
        raise SystemExit(f"{TABLE} has columns {sorted(db.columns(TABLE))}; this script knows {sorted(COLUMNS)}")
    targets = Targets.from_json(json.loads(Path(args.targets).read_text()))
    template_of = targets.template_of()
    maker = RowMaker(targets, f"direct-{uuid.uuid4().hex[:8]}")
    now = time.time()
    moments = sorted_moments(args.rows, now - DAYS * 86_400, now - 1, args.seed)
    received_at = datetime.now(UTC)
    batches = [
        [
            stored_row(db, report, template_of, received_at, batch_id)
            for report in batch_rows(maker, moments, number, args.batch, args.seed)
        ]
        for number, batch_id in ((n, str(uuid7())) for n in range(-(-args.rows // args.batch)))
    ]
    if args.into == "live":
        seconds = db.insert_batches(TABLE, batches)
        # Gone again, so that the queries measured next see what the API stored, and only that.
        batch_ids = [batch[0][-1] for batch in batches]
        deleted = 0
        for offset in range(0, len(batch_ids), 500):
            chunk = batch_ids[offset : offset + 500]
            marks = ", ".join([db.placeholder] * len(chunk))
            deleted += db.delete(f'DELETE FROM "{TABLE}" WHERE batch_id IN ({marks})', chunk)
        count = deleted
    else:
        db.copy_table()
        try:
            seconds = db.insert_batches(COPY, batches)
            (count,) = db.query(f'SELECT count(*) FROM "{COPY}"')[0]
        finally:
            db.query(f'DROP TABLE "{COPY}"')
    if count != args.rows:
        raise SystemExit(f"{count} rows found after inserting {args.rows} ({args.into})")
    return {"rows": args.rows, "seconds": seconds, "vendor": db.vendor}


def drain(args: argparse.Namespace) -> dict[str, Any]:
    """Poll the pending batches until none is left (the worker has rolled up everything); the seconds waited."""
    db = Database()
    started = time.monotonic()
    while True:
        ((pending,),) = db.query("SELECT count(*) FROM analytics_pendingbatch")
        waited = time.monotonic() - started
        if not pending:
            return {"seconds": waited, "vendor": db.vendor}
        if waited > args.timeout:
            raise SystemExit(f"{pending} batches still pending after {args.timeout} s: is the Celery worker running?")
        time.sleep(0.1)


def settle(args: argparse.Namespace) -> dict[str, Any]:
    """PostgreSQL: VACUUM ANALYZE and CHECKPOINT (else autovacuum, woken by the direct rows' deletion, may run
    while the queries are timed). SQLite: nothing (the server never runs ANALYZE there)."""
    db = Database()
    if db.vendor == "postgresql":
        db.query("VACUUM ANALYZE")
        db.query("CHECKPOINT")
    return {"vendor": db.vendor}


# SQLite has no percentile function: the p95 row (nearest rank) by ROW_NUMBER, next to COUNT and AVG OVER ().
_SQLITE_RAW = """
SELECT n, average, response_time_ms FROM (
    SELECT response_time_ms,
           ROW_NUMBER() OVER (ORDER BY response_time_ms) AS position,
           COUNT(*) OVER () AS n,
           AVG(response_time_ms) OVER () AS average
    FROM analytics_execution WHERE {where}
) WHERE position = (n * 95 + 99) / 100
"""
_POSTGRESQL_RAW = """
SELECT count(*), avg(response_time_ms), percentile_cont(0.95) WITHIN GROUP (ORDER BY response_time_ms)
FROM analytics_execution WHERE {where}
"""


def raw(args: argparse.Namespace) -> dict[str, Any]:
    """Time the one-query baseline `runs` times; its answer and the median time."""
    db = Database()
    column = {"version": "version_id", "template": "template_id"}[args.scope]
    where = f"{column} = {db.placeholder}"
    params: list[Any] = [db.uuid(args.id)]
    if args.start and args.end:
        where += f" AND executed_at >= {db.placeholder} AND executed_at < {db.placeholder}"
        params += [db.moment(datetime.fromisoformat(args.start)), db.moment(datetime.fromisoformat(args.end))]
    sql = (_POSTGRESQL_RAW if db.vendor == "postgresql" else _SQLITE_RAW).format(where=where)
    times, rows = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        rows = db.query(sql, params)
        times.append((time.perf_counter() - started) * 1000)
    count, average, p95 = rows[0] if rows else (0, None, None)
    return {
        "count": count,
        "average": None if average is None else float(average),
        "p95": None if p95 is None else float(p95),
        "medianMs": statistics.median(times),
        "timesMs": times,
    }


def main() -> None:
    """Run one command; print its result as JSON on the last line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    insert = commands.add_parser("direct", help="insert rows straight into the executions table, or a copy")
    insert.add_argument("--into", choices=["live", "copy"], default="live")
    insert.add_argument("--targets", required=True, help="the JSON bench/seed_analytics.py printed, in a file")
    insert.add_argument("--rows", type=int, default=200_000)
    insert.add_argument("--batch", type=int, default=200)
    insert.add_argument("--seed", type=int, default=1)
    waiting = commands.add_parser("drain", help="wait until no batch is left for the worker to roll up")
    waiting.add_argument("--timeout", type=float, default=3600)
    commands.add_parser("settle", help="PostgreSQL: ANALYZE and CHECKPOINT")
    query = commands.add_parser("raw", help="time one SQL query computing count, average and p95")
    query.add_argument("--scope", choices=["version", "template"], required=True)
    query.add_argument("--id", required=True)
    query.add_argument("--start", help="ISO 8601 with a zone; the window is [start, end)")
    query.add_argument("--end")
    query.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    run = {"direct": direct, "drain": drain, "settle": settle, "raw": raw}[args.command]
    sys.stdout.write(json.dumps(run(args)) + "\n")


if __name__ == "__main__":
    main()
