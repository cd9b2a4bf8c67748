"""`make bench`: the render endpoint under concurrent load, next to a plain Django view on the same server.

The server is started exactly as `make run` starts it (honcho with the Procfile: gunicorn with
gunicorn.conf.py, a Celery worker and beat), on a free port, with a fresh temporary LIFECYCLE_DATA_DIR so
that the user's own database is never touched (SQLite there; BENCH_DATABASE_URL selects e.g. PostgreSQL).
A registry of many templates and versions is seeded first, because render must not slow down as they
accumulate. wrk then alternates the plain view and render, round after round, so that drift of the machine
affects both alike, and the median of the rounds is reported with the ratio render / plain.

Standard library only: this driver must run before anything else is known to work.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Run as a script (`python bench/render.py`), the project is not on the path: bench.common needs it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (
    BUSY_WARNING_CORES,
    PYTHON,
    BenchError,
    OthersMeter,
    apt_install,
    bench_env,
    free_port,
    gunicorn_workers,
    honcho_installed,
    http_get,
    http_post_json,
    last_json_line,
    run_in_work_dir,
    run_step,
    running_server,
    say,
    setup_database,
    stop_on_signals,
)

PLAIN_PATH = "/bench/plain"
ENVIRONMENT = "development"  # every new version is active there at once, with no approval

# The goal render is held to: most of the framework's ceiling, and a p99 under 10 ms.
GOAL_RATIO = 0.60
GOAL_P99_MS = 10.0
# Render with a subjectId while an A/B test runs (issue 13): at most 10% slower than render.
GOAL_SUBJECT_SLOWDOWN = 0.10
# Render of a prompt built from parts (issue 14): as fast as one without; within the rounds' noise (5%).
GOAL_INCLUDES_SLOWDOWN = 0.05


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_REQUESTS_PER_SEC = re.compile(r"^Requests/sec:\s+([\d.]+)\s*$", re.MULTILINE)
_REQUESTS = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_SOCKET_ERRORS = re.compile(r"^\s*Socket errors:.*$", re.MULTILINE)
_NON_2XX = re.compile(r"^\s*Non-2xx or 3xx responses:\s*(\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    requests_per_sec: float
    p50_ms: float
    p99_ms: float


def _latency_percentile(output: str, percent: str) -> float:
    """A line of wrk's --latency distribution (`     99%    5.90ms`), in milliseconds."""
    found = re.search(rf"^\s*{re.escape(percent)}(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
    if found is None:
        raise BenchError(f"wrk printed no {percent}% latency line:\n{output}")
    return float(found.group(1)) * _UNITS_MS[found.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """Parse wrk's report, refusing any run with non-2xx responses or socket errors."""
    problems = [line.strip() for line in _SOCKET_ERRORS.findall(output)]
    non_2xx = _NON_2XX.search(output)
    if non_2xx is not None and int(non_2xx.group(1)) > 0:
        problems.append(non_2xx.group(0).strip())
    requests = _REQUESTS.search(output)
    if requests is None or int(requests.group(1)) == 0:
        problems.append("no requests completed")
    if problems:
        raise BenchError("wrk reported " + "; ".join(problems) + ":\n" + output)
    rate = _REQUESTS_PER_SEC.search(output)
    if rate is None:
        raise BenchError(f"wrk printed no Requests/sec line:\n{output}")
    return WrkResult(
        requests_per_sec=float(rate.group(1)),
        p50_ms=_latency_percentile(output, "50"),
        p99_ms=_latency_percentile(output, "99"),
    )


def ensure_wrk() -> str:
    """The wrk executable; installed with apt-get when running as root, else how to install it."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        say("bench: wrk is not installed. Install it, e.g.:")
        say("  sudo apt-get install -y wrk     (Debian, Ubuntu)")
        say("  brew install wrk                (macOS)")
        sys.exit(2)
    say("bench: wrk is not installed; installing it with apt-get")
    apt_install("wrk")
    found = shutil.which("wrk")
    if not found:
        raise BenchError("apt-get installed wrk, but it is still not on PATH")
    return found


def prepare_database(env: dict[str, str], templates: int, versions: int) -> tuple[str, dict[str, Any]]:
    """Migrate, seed the roles, create the `bench` token and the registry: (token, rendered template)."""
    token = setup_database(env, "author,deployer")
    say(f"bench: seeding {templates:,} templates x {versions} versions ...")
    out = run_step(
        [PYTHON, "bench/seed_registry.py", "--templates", str(templates), "--versions", str(versions)],
        env,
        "bench/seed_registry.py",
    )
    target: dict[str, Any] = last_json_line(out, "bench/seed_registry.py")
    say(
        f"bench: seeded in {target['seconds']} s; registry holds {target['templates']:,} templates, "
        f"{target['versions']:,} versions ({target['vendor']})"
    )
    return token, target


def check_endpoints(base: str, render_path: str, body: dict[str, Any], token: str, expected: str) -> None:
    """One render must return 200 and exactly the expected text, and the plain view 200: else no figures."""
    status, raw = http_post_json(base + render_path, body, token)
    if status != 200:
        raise BenchError(f"POST {render_path} returned {status}: {raw.decode(errors='replace')}")
    rendered = json.loads(raw).get("rendered")
    if rendered != expected:
        raise BenchError(f"POST {render_path} rendered {rendered!r}, expected {expected!r}")
    status, raw = http_get(base + PLAIN_PATH)
    if status != 200:
        raise BenchError(f"GET {PLAIN_PATH} returned {status} (is LIFECYCLE_BENCH_VIEWS honoured?): {raw[:300]!r}")


def write_subject_lua(path: Path, render_path: str, body: dict[str, Any], token: str) -> Path:
    """The wrk script that renders for a new subject on every request (subject-1, subject-2, ...), as
    integrations do for their users while an A/B test runs: each is assigned its variant."""
    payload = json.dumps(body)
    assert payload.endswith("}")
    path.write_text(
        "local counter = 0\n"
        f'local head = [==[{payload[:-1]}, "subjectId": "subject-]==]\n'
        "request = function()\n"
        "  counter = counter + 1\n"
        f'  local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Token {token}"}}\n'
        f'  return wrk.format("POST", "{render_path}", headers, head .. counter .. [["}}]])\n'
        "end\n"
    )
    return path


def check_subject_render(base: str, render_path: str, body: dict[str, Any], token: str, test_id: str) -> set[str]:
    """Renders for subjects must answer 200 with the running test's id, and reach both variants."""
    seen = set()
    for number in range(20):
        status, raw = http_post_json(base + render_path, {**body, "subjectId": f"check-{number}"}, token)
        answer = json.loads(raw) if status == 200 else {}
        if status != 200 or answer.get("abTestId") != test_id:
            raise BenchError(f"render with a subjectId returned {status}: {raw.decode(errors='replace')[:300]}")
        seen.add(answer["variantId"])
    return seen


def write_lua(path: Path, body: dict[str, Any], token: str) -> Path:
    """The wrk script that turns every request into the render POST."""
    payload = json.dumps(body)  # ASCII only (ensure_ascii), and never contains the long bracket below
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = [==[{payload}]==]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Token {token}"\n'
    )
    return path


@dataclass(frozen=True)
class Load:
    """How wrk loads the server."""

    wrk: str
    threads: int
    connections: int

    def run(self, url: str, seconds: int, script: Path | None = None) -> WrkResult:
        """One wrk run against `url`, parsed; BenchError on errors, non-2xx responses or a hang."""
        command = [self.wrk, f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds}s", "--latency"]
        if script is not None:
            command += ["-s", str(script)]
        try:
            done = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 30, check=False)
        except subprocess.TimeoutExpired:
            raise BenchError(f"wrk did not finish within {seconds + 30} s: {' '.join(command)} {url}") from None
        if done.returncode != 0:
            raise BenchError(f"wrk failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
        return parse_wrk(done.stdout)


def _row(label: str, result: WrkResult) -> str:
    return f"{label:<20} {result.requests_per_sec:>9,.0f} {result.p50_ms:>9.1f} {result.p99_ms:>8.1f}"


def _median(results: list[WrkResult]) -> WrkResult:
    return WrkResult(
        requests_per_sec=statistics.median(r.requests_per_sec for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
    )


def measure(args: argparse.Namespace, wrk: str, work_dir: Path) -> None:
    """Set up the database, start the server, check it, warm up, measure the rounds and print the table."""
    port = free_port()
    env = bench_env(work_dir / "data", port, database_url=os.environ.get("BENCH_DATABASE_URL"), bench_views=True)
    token, target = prepare_database(env, args.templates, args.versions)
    render_path = f"/api/templates/{target['templateId']}/render"
    body = {"environment": ENVIRONMENT, "variables": target["variables"]}
    script = write_lua(work_dir / "render.lua", body, token)
    test_id = target.get("abTestId")
    subject_script = write_subject_lua(work_dir / "subject.lua", render_path, body, token) if test_id else None
    composed_path = f"/api/templates/{target['composed']['templateId']}/render"
    load = Load(wrk=wrk, threads=args.threads, connections=args.connections)
    vendor = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(target["vendor"], target["vendor"])
    wrk_args = f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s"

    log_path = work_dir / "server.log"
    say(f"bench: starting the server on port {port} (log: {log_path})")
    started = time.monotonic()
    with running_server(env, port, log_path) as server:
        base = server.base
        say(f"bench: web server, worker and beat up in {time.monotonic() - started:.1f} s")
        check_endpoints(base, render_path, body, token, target["expected"])
        check_endpoints(base, composed_path, body, token, target["composed"]["expected"])
        say("bench: render returned the expected text (plain and composed), and the plain view 200")
        if test_id:
            variants = check_subject_render(base, render_path, body, token, test_id)
            say(f"bench: render with a subjectId served the running A/B test's variants {sorted(variants)}")
        meter = OthersMeter(server.groups)
        before = meter.sample()
        time.sleep(1.0)
        idle_others = meter.cores_between(before, meter.sample())
        if idle_others > BUSY_WARNING_CORES:
            say(
                f"bench: WARNING: other processes use {idle_others:.2f} of {os.cpu_count()} cores: they share the "
                "CPU with the server and wrk, so the figures will be lower and noisier than this machine can do"
            )
        say(f"bench: warming up {args.warmup} s per endpoint")
        if args.warmup > 0:
            load.run(base + PLAIN_PATH, args.warmup)
            load.run(base + render_path, args.warmup, script)
            load.run(base + composed_path, args.warmup, script)
            if subject_script:
                load.run(base + render_path, args.warmup, subject_script)
        say(f"bench: {args.rounds} round(s) of {wrk_args}, plain then render")
        say(f"{'':<20} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>8}   {'others':>6}  (cores other processes used)")
        plain: list[WrkResult] = []
        render: list[WrkResult] = []
        subject: list[WrkResult] = []
        composed: list[WrkResult] = []
        disturbed = 0.0
        for number in range(1, args.rounds + 1):
            for label, results, url, lua in (
                ("plain", plain, PLAIN_PATH, None),
                ("render", render, render_path, script),
                ("render+includes", composed, composed_path, script),
                *((("render+subject", subject, render_path, subject_script),) if subject_script else ()),
            ):
                before = meter.sample()
                results.append(load.run(base + url, args.duration, lua))
                others = meter.cores_between(before, meter.sample())
                disturbed = max(disturbed, others)
                line = _row(f"round {number}: {label}", results[-1]) + f"   {others:>6.2f}"
                if label == "render":
                    line += f"  render/plain {render[-1].requests_per_sec / plain[-1].requests_per_sec:.0%}"
                if label == "render+includes":
                    line += f"  includes/render {composed[-1].requests_per_sec / render[-1].requests_per_sec:.0%}"
                if label == "render+subject":
                    line += f"  subject/render {subject[-1].requests_per_sec / render[-1].requests_per_sec:.0%}"
                say(line)

    workers = gunicorn_workers(env)  # valid now: gunicorn.conf.py computed the same and started
    plain_median, render_median = _median(plain), _median(render)
    ratio = render_median.requests_per_sec / plain_median.requests_per_sec
    met = ratio >= GOAL_RATIO and render_median.p99_ms < GOAL_P99_MS
    registry = f"{args.templates:,} templates x {args.versions} versions"
    if (target["templates"], target["versions"]) != (args.templates, args.versions * args.templates):
        registry += f" (database holds {target['templates']:,} templates, {target['versions']:,} versions)"
    rounds = "median of 1 round" if args.rounds == 1 else f"median of {args.rounds} rounds"
    say()
    say(f"render benchmark: gunicorn ({workers} sync workers), {vendor}, {registry}, {wrk_args}")
    say(f"{rounds:<20} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>8}")
    say(_row("plain Django view", plain_median))
    say(_row("render", render_median))
    composed_median = _median(composed)
    say(_row("render, 2 includes", composed_median))
    if subject:
        subject_median = _median(subject)
        say(_row("render + subject", subject_median))
    say(f"{'render / plain':<20} {ratio:>9.0%}")
    composed_ratio = composed_median.requests_per_sec / render_median.requests_per_sec
    say(f"{'includes / render':<20} {composed_ratio:>9.0%}")
    say(
        "composition goal: a prompt built from parts renders as fast as one without (within 5%): "
        + ("met" if composed_ratio >= 1 - GOAL_INCLUDES_SLOWDOWN else "NOT met")
    )
    if subject:
        subject_ratio = subject_median.requests_per_sec / render_median.requests_per_sec
        say(f"{'subject / render':<20} {subject_ratio:>9.0%}")
        say(
            "A/B goal: render with a subjectId while a test runs within 10% of render: "
            + ("met" if subject_ratio >= 1 - GOAL_SUBJECT_SLOWDOWN else "NOT met")
        )
    say(f"goal: >= {GOAL_RATIO:.0%} of plain and p99 < {GOAL_P99_MS:.0f} ms: " + ("met" if met else "NOT met"))
    if disturbed > BUSY_WARNING_CORES:
        say(
            f"WARNING: other processes used up to {disturbed:.2f} cores during the rounds: these figures are "
            "lower and noisier than this machine can do; run again when it is quiet"
        )


def main() -> int:
    """Parse the options and run the benchmark; non-zero exit on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="plain/render rounds (default 3)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per endpoint (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--templates", type=int, default=1000, help="templates seeded (default 1000)")
    parser.add_argument("--versions", type=int, default=5, help="versions per template (default 5)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, log)")
    args = parser.parse_args()
    if min(args.duration, args.rounds, args.threads, args.connections, args.templates, args.versions) < 1:
        parser.error("--duration, --rounds, --threads, --connections, --templates and --versions must be >= 1")
    if args.warmup < 0:
        parser.error("--warmup must be >= 0")
    if not honcho_installed():
        return 2
    # Ctrl-C must stop the run (and so the server) even when started with SIGINT ignored, as shells do
    # for background jobs: wrk alone would stop early and its truncated figures be taken for a round.
    stop_on_signals()
    wrk = ensure_wrk()
    return run_in_work_dir(
        "lifecycle-bench-",
        args.keep,
        "the server, if started, was stopped",
        lambda work_dir: measure(args, wrk, work_dir),
    )


if __name__ == "__main__":
    sys.exit(main())
