"""`make bench` (fifth part): the Python client (packages/promptclient) against the real server.

The server is started exactly as `make run` starts it; a template (two versions, live in development) and
49 others are created over the API. Then:

1. Render from memory, in-process: p50 and p99 of one `client.render()` of a text prompt (goal: p50 under
   20 µs), timed alone, 200,000 times after a warm-up.
2. Freshness: 20 client processes use the 50 templates, each rendering the first one every millisecond.
   A deploy (`PUT /api/versions/{id}/deploy`, at a random moment of the refresh cycle) switches the
   version it serves; from the moment the deploy returns, the time until each process first renders the
   new version (goal: every one within the refresh interval plus one second). Three rounds.
3. Requests: what each process asked the server meanwhile, per refresh interval (goal: one, whatever the
   number of templates: 50 here).

Standard library only, as the other drivers (the client runs in bench/client_process.py, with the venv).
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (
    PYTHON,
    BenchError,
    bench_env,
    free_port,
    honcho_installed,
    http_json,
    run_in_work_dir,
    running_server,
    say,
    setup_database,
)

GOAL_RENDER_P50_US = 20.0
GOAL_EXTRA_S = 1.0  # beyond the refresh interval
PROCESS = str(Path(__file__).resolve().parent / "client_process.py")
CONTENT = "Please respond to the customer inquiry: {{inquiry}}"
VARIABLES = [{"name": "inquiry", "type": "string", "required": True}]


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: dict[str, Any] | None, expect: int) -> Any:
        status, raw = http_json(method, self.base + path, body, self.token, timeout=30.0)
        if status != expect:
            raise BenchError(f"{method} {path} returned {status}: {raw.decode(errors='replace')[:1000]}")
        return json.loads(raw) if raw else None


def seed(api: Api, others: int) -> tuple[str, str, str, list[str]]:
    """The watched template (1.0.0 and 1.0.1, the latter live in development) and the others' ids."""
    run = f"{random.getrandbits(24):06x}"
    template = api.call(
        "POST", "/api/templates", {"name": f"bench-client-{run}", "content": CONTENT, "variables": VARIABLES}, 201
    )
    second = api.call(
        "POST",
        "/api/versions/create",
        {"templateId": template["id"], "data": {"content": "Answer kindly: {{inquiry}}"}},
        201,
    )
    ids = []
    for number in range(others):
        made = api.call(
            "POST",
            "/api/templates",
            {"name": f"bench-client-{run}-{number:02d}", "content": CONTENT, "variables": VARIABLES},
            201,
        )
        ids.append(made["id"])
    return template["id"], template["latestVersion"]["id"], second["id"], ids


def _lines(process: subprocess.Popen[str], index: int, into: queue.Queue[tuple[int, dict[str, Any]]]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip():
            into.put((index, json.loads(line)))


def hot_render(base: str, token: str, template: str, calls: int) -> dict[str, Any]:
    out = subprocess.run(
        [PYTHON, PROCESS, "hot", "--base", base, "--token", token, "--template", template, "--calls", str(calls)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        raise BenchError(f"client_process.py hot failed:\n{out.stderr[-3000:]}")
    found: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def freshness(
    api: Api, template: str, versions: tuple[str, str], others: list[str], processes: int, interval: float, rounds: int
) -> tuple[list[list[float]], list[float]]:
    """Each round's latencies (one per process, seconds) and each process's requests per interval."""
    seconds = rounds * (2 * interval + 4) + 8
    command = [
        PYTHON, PROCESS, "watch", "--base", api.base, "--token", api.token, "--template", template,
        "--others", ",".join(others), "--interval", str(interval), "--seconds", str(seconds),
    ]  # fmt: skip
    lines: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
    started = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    for index, process in enumerate(started):
        threading.Thread(target=_lines, args=(process, index, lines), daemon=True).start()
    try:
        ready = 0
        while ready < processes:
            _, line = lines.get(timeout=60)
            if "error" in line:
                raise BenchError(f"a client process: {line['error']}")
            ready += 1 if line.get("ready") else 0
        say(f"bench: {processes} client processes ready, each using {len(others) + 1} templates")
        serving = versions[1]
        all_rounds = []
        for number in range(rounds):
            time.sleep(random.uniform(0.5, 0.5 + interval))  # a random moment of the refresh cycle
            target = versions[0] if serving == versions[1] else versions[1]
            api.call("PUT", f"/api/versions/{target}/deploy", {"environment": "development"}, 200)
            returned = time.time()
            seen: dict[int, float] = {}
            deadline = time.monotonic() + interval + 10
            while len(seen) < processes and time.monotonic() < deadline:
                try:
                    index, line = lines.get(timeout=0.5)
                except queue.Empty:
                    continue
                if line.get("changed") == target:
                    seen[index] = max(0.0, line["at"] - returned)
            if len(seen) < processes:
                raise BenchError(f"round {number + 1}: {processes - len(seen)} processes never served the new version")
            latencies = sorted(seen.values())
            all_rounds.append(latencies)
            say(
                f"bench: round {number + 1}: every process served the new version "
                f"{statistics.median(latencies):.2f} s (median) and {latencies[-1]:.2f} s (last) after the deploy"
            )
            serving = target
        per_interval: list[float] = []
        while len(per_interval) < processes:
            _, line = lines.get(timeout=seconds + 60)
            if "requests" in line:
                per_interval.append(line["requests"] / (line["seconds"] / line["interval"]))
        return all_rounds, per_interval
    finally:
        for process in started:
            process.kill() if process.poll() is None else None
            process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200_000, help="timed renders from memory (default 200,000)")
    parser.add_argument("--processes", type=int, default=20, help="client processes (default 20)")
    parser.add_argument("--templates", type=int, default=50, help="templates each process uses (default 50)")
    parser.add_argument("--interval", type=float, default=2.0, help="the clients' refresh interval (default 2 s)")
    parser.add_argument("--rounds", type=int, default=3, help="deploys watched (default 3)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20,000 renders, 5 processes, 1 round")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, logs)")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.processes, args.rounds = 20_000, 5, 1
    if min(args.calls, args.processes, args.templates, args.rounds) < 1 or args.interval <= 0:
        parser.error("--calls, --processes, --templates, --rounds and --interval must be positive")
    if not honcho_installed():
        return 2
    results: dict[str, Any] = {}

    def run(work_dir: Path) -> None:
        port = free_port()
        env = bench_env(work_dir / "data", port)
        token = setup_database(env, "author,deployer")
        with running_server(env, port, work_dir / "server.log"):
            api = Api(f"http://127.0.0.1:{port}", token)
            template, first, second, others = seed(api, args.templates - 1)
            say(f"bench: client: rendering from memory, {args.calls:,} timed calls ...")
            results["hot"] = hot_render(api.base, token, template, args.calls)
            results["rounds"], results["requests"] = freshness(
                api, template, (first, second), others, args.processes, args.interval, args.rounds
            )

    code = run_in_work_dir("lifecycle-bench-client-", args.keep, "the server was stopped", run)
    if code:
        return code
    hot, rounds, requests = results["hot"], results["rounds"], results["requests"]
    latest = max(max(latencies) for latencies in rounds)
    median = statistics.median(value for latencies in rounds for value in latencies)
    say()
    say(
        f"client benchmark: the real server (SQLite), {args.processes} client processes, "
        f"{args.templates} templates each"
    )
    say(f"  render from memory (text prompt, in-process): p50 {hot['p50_us']:.1f} µs, p99 {hot['p99_us']:.1f} µs")
    say(
        f"  deploy to every process, refresh every {args.interval:g} s: median {median:.2f} s, "
        f"last {latest:.2f} s over {len(rounds)} rounds"
    )
    say(
        f"  requests per process per refresh interval: {statistics.fmean(requests):.2f} "
        f"(max {max(requests):.2f}) for {args.templates} templates"
    )
    goals = [
        (f"render p50 < {GOAL_RENDER_P50_US:g} µs ({hot['p50_us']:.1f} µs)", hot["p50_us"] < GOAL_RENDER_P50_US),
        (
            f"every process serves a deploy within {args.interval + GOAL_EXTRA_S:g} s ({latest:.2f} s)",
            latest <= args.interval + GOAL_EXTRA_S,
        ),
        (f"one request per interval ({max(requests):.2f} at most)", max(requests) <= 1.05),
    ]
    for goal, met in goals:
        say(f"  goal: {goal}: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
