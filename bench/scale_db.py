"""The scale benchmark's database work (bench/scale.py): seed millions of executions on PostgreSQL, fast.

Run with the benchmark's environment (a throwaway cluster's DATABASE_URL), never on the user's database;
prints its result as JSON, alone on the last line of stdout (progress goes to stderr).

`seed` adds executions spread over the last `--days` days to the executions table, as the server would
have stored them: the database itself generates them (INSERT ... SELECT FROM generate_series: no row passes
through Python, ~10 times faster than a client could send them), in time order within each call, with
uuid7 ids made of their time, in pending batches of BATCH rows; then the roll-up (analytics.rollups, the
worker's own code) folds every batch into the rollups, so that the rollups are complete and nothing is left
pending, as in production a few seconds after the last report. The traffic is bench/analytics.py's: the
busy template takes 40% (its versions 20/30/50%), the others share the rest; 90% success, 7% errors, 3%
timeouts; lognormal response times and tokens; five regions. The partitions of the days are created first,
as the beat task would have over those days.

No request ids: the dedup table (ExecutionRequest) is written by ingestion and read by nothing but it, so it
plays no part in what is measured here; ingestion's own speed is bench/analytics.py's.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script, bench/ comes first on the path: the project must, for its apps (one is named analytics).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.in_process import django_setup, say

BATCH = 1000  # rows per pending batch: the API's largest batch
CHUNK = 250_000  # rows per INSERT (one transaction each): progress, and no giant transaction
ROLLUP_PASS = 100_000  # executions per roll-up pass (the worker's default is 10,000; larger is quicker here)

# One INSERT ... SELECT: every random draw is the database's. %(...)s are parameters; the version arrays
# are the busy template's versions first, then the others'.
_INSERT = """
WITH drawn AS (
    SELECT n,
           %(start)s::timestamptz + ((n + random()) / %(count)s) * %(span)s::interval AS at,
           random() AS pick, random() AS outcome, random() AS place,
           1 - random() AS u1, random() AS u2, 1 - random() AS u3, random() AS u4
    FROM generate_series(%(first)s, %(last)s) AS n
), shaped AS (
    SELECT *,
           CASE WHEN pick < 0.08 THEN 1 WHEN pick < 0.2 THEN 2 WHEN pick < 0.4 THEN 3
                ELSE 4 + least(floor((pick - 0.4) / 0.6 * %(others)s)::int, %(others)s - 1) END AS v,
           CASE WHEN outcome < 0.9 THEN 'success' WHEN outcome < 0.97 THEN 'error' ELSE 'timeout' END AS status,
           sqrt(-2 * ln(u1)) * cos(2 * pi() * u2) AS z1,
           sqrt(-2 * ln(u3)) * cos(2 * pi() * u4) AS z2,
           sqrt(-2 * ln(u3)) * sin(2 * pi() * u4) AS z3
    FROM drawn
), tokens AS (
    SELECT *,
           20 + floor(exp(5.0 + 0.6 * z2))::int AS tokens_in,
           CASE WHEN status = 'timeout' THEN 0 ELSE 10 + floor(exp(5.4 + 0.7 * z3))::int END AS tokens_out
    FROM shaped
)
INSERT INTO analytics_execution (
    id, batch_id, version_id, template_id, environment, status, executed_at, received_at, response_time_ms,
    input_tokens, output_tokens, total_tokens, cost, provider, region, user_agent, request_id, user_ref,
    subject_ref, user_satisfaction, converted, ab_test_id, variant_id, error_type, error_message, input, output
)
SELECT
    (lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0') || '7'
        || substr(replace(gen_random_uuid()::text, '-', ''), 14))::uuid,
    md5(%(run)s || (n / %(batch)s)::text)::uuid,
    (%(versions)s::uuid[])[v], (%(templates)s::uuid[])[v], 'production', status, at, at,
    CASE WHEN status = 'timeout' THEN round((30000 + u2 * 500)::numeric, 1)
         ELSE round(exp(6.6 + 0.55 * z1)::numeric, 1) END,
    tokens_in, tokens_out, tokens_in + tokens_out, round((tokens_in * 0.15 + tokens_out * 0.6) / 1e6, 8),
    CASE WHEN v %% 4 = 2 THEN 'anthropic' ELSE 'openai' END,
    CASE WHEN place < 0.35 THEN 'us-east-1' WHEN place < 0.6 THEN 'eu-west-1' WHEN place < 0.8 THEN 'eu-central-1'
         WHEN place < 0.92 THEN 'ap-southeast-1' ELSE 'sa-east-1' END,
    'lifecycle-sdk-python/1.4.2 (CPython 3.12; linux)', NULL, 'user-' || floor(place * 50000)::int, '',
    CASE WHEN u2 < 0.3 THEN 1 + floor(u4 * 5)::int END,
    CASE WHEN u4 < 0.5 THEN u1 < 0.25 END,
    NULL, '',
    CASE status WHEN 'success' THEN ''
                WHEN 'timeout' THEN 'Timeout'
                ELSE (ARRAY['RateLimitError', 'ProviderError', 'InvalidOutput', 'ContentFilter'])
                     [1 + floor(u2 * 4)::int]
    END,
    CASE status WHEN 'success' THEN '' WHEN 'timeout' THEN 'no answer from the provider within 30 s'
                ELSE 'the provider failed (attempt ' || (1 + floor(u4 * 5)::int) || ')' END,
    '{"question": "How do I reset the admin password?", "locale": "en-US"}',
    CASE WHEN status = 'success' THEN 'To reset the admin password, open Settings > Security.' ELSE '' END
FROM tokens
"""

_PENDING = """
INSERT INTO analytics_pendingbatch (id, created_at, executions)
SELECT md5(%(run)s || b::text)::uuid, now(),
       least(%(last)s, (b + 1) * %(batch)s - 1) - greatest(%(first)s, b * %(batch)s) + 1
FROM generate_series(%(first)s / %(batch)s, %(last)s / %(batch)s) AS b
"""


def seed(args: argparse.Namespace) -> dict[str, Any]:
    """Add `rows` executions over the last `days` days, then roll everything up; the seconds of each step."""
    django_setup()
    from django.db import connection, transaction

    from analytics.partitions import create_execution_partitions
    from analytics.rollups import roll_up_pending

    if args.rows % BATCH:
        raise SystemExit(f"--rows must be a multiple of {BATCH}")
    targets = json.loads(Path(args.targets).read_text())
    versions = [*targets["busy"]["versionIds"], *(other["versionId"] for other in targets["others"])]
    templates = [targets["busy"]["templateId"]] * len(targets["busy"]["versionIds"])
    templates += [other["templateId"] for other in targets["others"]]
    if len(targets["busy"]["versionIds"]) != 3:
        raise SystemExit("the seeded busy template must have 3 versions (bench/seed_analytics.py's default)")
    end = datetime.now(UTC)
    start = end - timedelta(days=args.days)
    # The days' partitions, as the beat task would have created them ahead over those days.
    created = create_execution_partitions(now=start, days_ahead=args.days + 1)
    say(f"scale: {len(created)} day partitions created")

    run = secrets.token_hex(6)  # batch ids are md5(run || number): unique across calls
    started = time.monotonic()
    for first in range(0, args.rows, CHUNK):
        last = min(first + CHUNK, args.rows) - 1
        params = {
            "start": start,
            "span": end - start,
            "first": first,
            "last": last,
            "count": args.rows,
            "others": len(targets["others"]),
            "run": run,
            "batch": BATCH,
            "versions": versions,
            "templates": templates,
        }
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_INSERT, params)
            cursor.execute(_PENDING, params)
        done = last + 1
        elapsed = time.monotonic() - started
        say(f"scale:   {done:>11,} rows inserted, {done / elapsed:,.0f} rows/s")
    inserted = time.monotonic() - started

    started = time.monotonic()
    with connection.cursor() as cursor:
        # Millions of rows stored at once, then rolled up: the statistics (taken before this load, and of a
        # few large batches per day) make PostgreSQL plan the roll-up's `batch_id IN (...)` as a scan of
        # every partition, JIT-compiled on top: an hour for 10M rows. A bulk-load artifact (the worker that
        # follows live traffic folds the latest few hundred batches, which the batch_id indexes serve), so
        # off for this session only: the queries measured afterwards run on the server, stock settings.
        cursor.execute("SET jit = off")
        cursor.execute("SET enable_seqscan = off")
    rolled = 0
    while done_pass := roll_up_pending(max_executions=ROLLUP_PASS, max_batches=ROLLUP_PASS // BATCH).executions:
        rolled += done_pass
        if rolled % 1_000_000 < ROLLUP_PASS:
            say(f"scale:   {rolled:>11,} rows rolled up, {rolled / (time.monotonic() - started):,.0f} rows/s")
    rolled_up = time.monotonic() - started
    if rolled != args.rows:
        raise SystemExit(f"rolled up {rolled:,} executions, not {args.rows:,}: was a worker running?")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM analytics_execution")
        (total,) = cursor.fetchone()
    return {"rows": args.rows, "total": total, "insertSeconds": inserted, "rollupSeconds": rolled_up}


def main() -> None:
    """Run one command; print its result as JSON on the last line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    seeding = commands.add_parser("seed", help="add executions, then roll them up")
    seeding.add_argument("--targets", required=True, help="the JSON bench/seed_analytics.py printed, in a file")
    seeding.add_argument("--rows", type=int, required=True)
    seeding.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    sys.stdout.write(json.dumps({"seed": seed}[args.command](args)) + "\n")


if __name__ == "__main__":
    main()
