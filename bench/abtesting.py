"""`make bench` (fourth part): the results of a running A/B test, read from the real server.

In a throwaway database: a test between two versions of a template, running for 30 days, and executions of
its variants reported as integrations report what render served (abTestId, variantId, subjectId), stored
and rolled up through analytics' services (the last few batches left pending, read raw, as between two
roll-ups). The server is started exactly as `make run` starts it, and GET /api/abtests/{id}/results is
timed, sequentially, first at the small number of executions, then at the full number (the same test, the
rest added). Goal (issue 13): p50 under 50 ms at 1,000,000 executions, and not growing with them.

Render with a subjectId while a test runs is measured by the render part (bench/render.py).

Standard library only, as the other drivers (the seeding needs Django and runs in bench/abtesting_db.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Run as a script (`python bench/abtesting.py`), the project is not on the path: bench.common needs it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (
    BUSY_WARNING_CORES,
    PYTHON,
    BenchError,
    OthersMeter,
    bench_env,
    free_port,
    honcho_installed,
    http_get,
    last_json_line,
    percentile,
    run_in_work_dir,
    run_step,
    running_server,
    say,
    setup_database,
)
from bench.pages import TimedPage, page_goals, page_rows, set_password, sign_in, time_page

GOAL_P50_MS = 50.0
WARMUP_CALLS = 10  # untimed first: every web worker loads its code paths and connections


@dataclass(frozen=True)
class Size:
    executions: int
    subjects: int
    pending_batches: int
    times_ms: list[float]
    others: float
    seeding_seconds: float
    winner: str | None
    recommendation: str
    page: TimedPage  # the test's dashboard page


def time_results(port: int, token: str, test_id: str, calls: int, expected: int) -> tuple[list[float], dict]:
    """`calls` sequential GETs of the test's results (after a warm-up): their times, and the last answer."""
    url = f"http://127.0.0.1:{port}/api/abtests/{test_id}/results"
    body: dict = {}
    times: list[float] = []
    for number in range(WARMUP_CALLS + calls):
        started = time.perf_counter()
        status, raw = http_get(url, timeout=30.0, token=token)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            raise BenchError(f"GET {url} answered {status}: {raw[:500]!r}")
        if number >= WARMUP_CALLS:
            times.append(elapsed)
    body = json.loads(raw)
    counted = sum(row["executions"] for row in body["variantResults"])
    if counted != expected:
        raise BenchError(f"the results count {counted:,} executions, not the {expected:,} reported")
    return times, body


def run(args: argparse.Namespace, work_dir: Path) -> list[Size]:
    port = free_port()
    env = bench_env(work_dir / "abtesting", port)
    token = setup_database(env, "analyst")
    password = set_password(env, "bench")
    script = "bench/abtesting_db.py"
    made = last_json_line(run_step([PYTHON, script, "setup"], env, script), script)
    say(f"bench: A/B results: a test running for 30 days ({made['vendor']}), id {made['testId']}")
    sizes: list[Size] = []
    reported = 0
    for size in sorted({args.small_executions, args.executions}):
        say(f"bench:   reporting {size - reported:,} executions (to {size:,}) through analytics' services ...")
        step = [PYTHON, script, "report", "--executions", str(size - reported), "--seed", str(args.seed + size)]
        stored = last_json_line(run_step(step, env, script), script)
        if stored["executions"] != size:
            raise BenchError(f"the database holds {stored['executions']:,} executions, not {size:,}")
        reported = size
        say(f"bench:   stored in {stored['seconds']} s; starting the server ...")
        with running_server(env, port, work_dir / f"server-{size}.log") as server:
            meter = OthersMeter(server.groups)
            before = meter.sample()
            times, body = time_results(port, token, made["testId"], args.calls, size)
            page = time_page(
                port,
                f"A/B test page, {size:,} executions",
                f"/dashboard/abtests/{made['testId']}/",
                sign_in(port, "bench", password),
                args.page_calls,
                b'id="interval-charts"',
            )
            others = meter.cores_between(before, meter.sample())  # over the API's calls and the page's loads
        sizes.append(
            Size(
                size,
                stored["subjects"],
                stored["pendingBatches"],
                times,
                others,
                stored["seconds"],
                body["winner"],
                body["recommendation"]["action"],
                page,
            )
        )
        say(f"bench:   {args.calls} calls at {size:,} executions: p50 {percentile(times, 0.5):.1f} ms")
        say(f"bench:   {args.page_calls} loads of the test's dashboard page: p50 {page.p50:.1f} ms")
    return sizes


def print_figures(sizes: list[Size], calls: int) -> list[str]:
    say()
    say(f"A/B results: GET /api/abtests/{{id}}/results, {calls} sequential calls per size, SQLite, the real server")
    say(
        f"{'executions':>12} {'subjects':>9} {'pending':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
        f"   answer (winner, recommendation)"
    )
    for size in sizes:
        times = size.times_ms
        say(
            f"{size.executions:>12,} {size.subjects:>9,} {size.pending_batches:>8} {percentile(times, 0.5):>8.1f} "
            f"{percentile(times, 0.95):>8.1f} {max(times):>8.1f}   {size.winner}, {size.recommendation}"
        )
        if size.others > BUSY_WARNING_CORES:
            say(f"WARNING: other processes used {size.others:.2f} cores meanwhile: the latencies are higher for it")
    for line in page_rows([size.page for size in sizes]):
        say(line)
    largest = sizes[-1]
    p50 = percentile(largest.times_ms, 0.5)
    verdict = "PASS" if p50 < GOAL_P50_MS else "MISS"
    goals = [
        f"A/B results at {largest.executions:,} executions: p50 {p50:.1f} ms; goal < {GOAL_P50_MS:g} ms: "
        f"{p50 / GOAL_P50_MS:.0%} of it: {verdict}"
    ]
    if len(sizes) > 1:
        smallest = sizes[0]
        ratio = p50 / statistics.median(smallest.times_ms)
        goals.append(
            f"A/B results at {largest.executions / smallest.executions:g}x the executions: {ratio:.2f}x the p50 "
            f"({percentile(smallest.times_ms, 0.5):.1f} ms at {smallest.executions:,})"
        )
    for goal, met in page_goals([largest.page]):
        goals.append(f"{goal}: {'PASS' if met else 'MISS'}")
    return goals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--executions", type=int, default=1_000_000, help="executions (default 1,000,000)")
    parser.add_argument("--small-executions", type=int, default=100_000, help="the smaller size (default 100,000)")
    parser.add_argument("--calls", type=int, default=200, help="timed calls per size (default 200)")
    parser.add_argument("--page-calls", type=int, default=30, help="timed loads of the test's page (default 30)")
    parser.add_argument("--seed", type=int, default=20_261_129, help="random seed of the executions")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20,000 and 2,000 executions, 20 calls")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, logs)")
    args = parser.parse_args()
    if args.quick:
        args.executions, args.small_executions, args.calls, args.page_calls = 20_000, 5_000, 20, 10
    if min(args.executions, args.small_executions, args.calls, args.page_calls) < 1:
        parser.error("--executions, --small-executions, --calls and --page-calls must be >= 1")
    if args.small_executions > args.executions:
        parser.error("--small-executions must not exceed --executions")
    if not honcho_installed():
        return 2
    outcome: list[list[Size]] = []
    code = run_in_work_dir(
        "lifecycle-bench-abtesting-",
        args.keep,
        "the server was stopped",
        lambda work_dir: outcome.append(run(args, work_dir)),
    )
    if code:
        return code
    goals = print_figures(outcome[0], args.calls)
    say()
    say("A/B benchmark summary")
    for line in goals:
        say(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
