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
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

PROJECT_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = PROJECT_DIR / ".venv" / "bin"
PLAIN_PATH = "/bench/plain"
HEALTH_PATH = "/api/health"
ENVIRONMENT = "development"  # every new version is active there at once, with no approval

# The goal render is held to: most of the framework's ceiling, and a p99 under 10 ms.
GOAL_RATIO = 0.60
GOAL_P99_MS = 10.0

STARTUP_TIMEOUT_S = 60.0
HEARTBEAT_SECONDS = 5
BUSY_WARNING_CORES = 0.15
STOP_GRACE_S = 10.0  # honcho itself waits 5 s for its children before killing them
LOG_TAIL_LINES = 40

# Processes of a local database server, counted with the server (the benchmark's own database).
_DATABASE_PROCESS_NAMES = frozenset({"postgres", "postmaster"})
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_REQUESTS_PER_SEC = re.compile(r"^Requests/sec:\s+([\d.]+)\s*$", re.MULTILINE)
_REQUESTS = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_SOCKET_ERRORS = re.compile(r"^\s*Socket errors:.*$", re.MULTILINE)
_NON_2XX = re.compile(r"^\s*Non-2xx or 3xx responses:\s*(\d+)\s*$", re.MULTILINE)

# urllib must reach the local server directly, whatever http_proxy the user's shell sets.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BenchError(Exception):
    """A failure that makes the figures meaningless: reported, and the run exits non-zero."""


def say(text: str = "") -> None:
    """Print a line at once (the run is long, and its progress should show as it goes)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


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
    install = ["apt-get", "install", "-y", "wrk"]
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, env=apt_env, stdout=subprocess.DEVNULL, check=False).returncode != 0:
        # The package lists may be missing (fresh containers) or stale: refresh them once and retry.
        subprocess.run(["apt-get", "update"], env=apt_env, stdout=subprocess.DEVNULL, check=True)
        subprocess.run(install, env=apt_env, stdout=subprocess.DEVNULL, check=True)
    found = shutil.which("wrk")
    if not found:
        raise BenchError("apt-get installed wrk, but it is still not on PATH")
    return found


def free_port() -> int:
    """A port nobody listens on now: bind port 0 and let the kernel pick one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bench_env(data_dir: Path, port: int) -> dict[str, str]:
    """The environment of every step: the user's, pointed at the benchmark's own data and database."""
    env = dict(os.environ)
    # Never the user's database or Redis: only what the benchmark itself is told to use.
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    if os.environ.get("BENCH_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    env["LIFECYCLE_DATA_DIR"] = str(data_dir)
    env["LIFECYCLE_BENCH_VIEWS"] = "1"
    env["PORT"] = str(port)
    # Frequent heartbeats let startup wait until the worker and beat have run one task: their own startup
    # (imports, first connections) is CPU the measured rounds must not share. One write every few seconds
    # costs the server nothing measurable.
    env["HEARTBEAT_SECONDS"] = str(HEARTBEAT_SECONDS)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"  # the server log should be complete when its tail is printed
    return env


def run_step(args: list[str], env: dict[str, str], what: str) -> str:
    """Run one setup step in the project directory; its stdout, or BenchError with all it printed."""
    done = subprocess.run(args, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"{what} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def prepare_database(env: dict[str, str], templates: int, versions: int) -> tuple[str, dict[str, Any]]:
    """Migrate, seed the roles, create the `bench` token and the registry: (token, rendered template)."""
    python = str(VENV_BIN / "python")
    run_step([python, "manage.py", "migrate", "--noinput"], env, "manage.py migrate")
    run_step([python, "manage.py", "seed"], env, "manage.py seed")
    out = run_step(
        [python, "manage.py", "create_api_token", "bench", "--groups", "author,deployer"], env, "create_api_token"
    )
    lines = out.strip().splitlines()
    if not lines:
        raise BenchError("create_api_token printed no token")
    token = lines[-1].strip()
    say(f"bench: seeding {templates:,} templates x {versions} versions ...")
    out = run_step(
        [python, "bench/seed_registry.py", "--templates", str(templates), "--versions", str(versions)],
        env,
        "bench/seed_registry.py",
    )
    target: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    say(
        f"bench: seeded in {target['seconds']} s; registry holds {target['templates']:,} templates, "
        f"{target['versions']:,} versions ({target['vendor']})"
    )
    return token, target


def _descendant_groups(pid: int) -> set[int]:
    """The process groups of every descendant of `pid`, which leads its own group and session.

    honcho runs each Procfile line in a new session (from a helper process), so signalling honcho's group
    does not reach them. Read from /proc; elsewhere nothing is found and honcho alone stops its children.
    """
    parent_of: dict[int, int] = {}
    group_of: dict[int, int] = {}
    for child, _, fields in _proc_stats():
        parent_of[child], group_of[child] = int(fields[1]), int(fields[2])
    family, grown = {pid}, True
    while grown:
        found = {child for child, parent in parent_of.items() if parent in family and child not in family}
        family |= found
        grown = bool(found)
    return {group_of[member] for member in family if member in group_of}


def _proc_stats() -> Iterator[tuple[int, str, list[str]]]:
    """Each process's id, name, and the fields of /proc/<pid>/stat after the name (state, ppid, pgrp...)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
            yield int(stat.parent.name), head.split("(", 1)[1], tail.split()
        except (OSError, IndexError, ValueError):
            continue


def _signal_group(pgid: int, signum: int) -> bool:
    """Send a signal to a process group; False when the group is already gone."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Stop honcho and everything it started: SIGTERM to its group, SIGKILL to all that outlives the grace."""
    # A second Ctrl-C must not cut the stop short and leave the server running.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        groups = _descendant_groups(proc.pid)
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        # honcho kills its children before it exits; this is for when it could not (it was killed itself).
        deadline = time.monotonic() + 3.0
        while any(_signal_group(pgid, 0) for pgid in groups) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pgid in groups:
            _signal_group(pgid, signal.SIGKILL)
    finally:
        signal.signal(signal.SIGINT, previous)


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """Status and body of a GET; error statuses are returned, not raised."""
    try:
        with _HTTP.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_post_json(url: str, body: dict[str, Any], token: str) -> tuple[int, bytes]:
    """Status and body of a JSON POST with the token, as wrk will send it."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
    )
    try:
        with _HTTP.open(request, timeout=5.0) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass(frozen=True)
class Server:
    """The running server: where it answers, and the process groups of all its processes (for CPU accounting)."""

    base: str
    groups: frozenset[int]


@contextmanager
def running_server(env: dict[str, str], port: int, log_path: Path) -> Iterator[Server]:
    """The server as `make run` starts it, until the block ends (also on errors and Ctrl-C)."""
    command = [str(VENV_BIN / "honcho"), "--procfile", "Procfile", "start", "--port", str(port), "--no-colour"]
    # A heartbeat older than this start is a previous run's (a BENCH_DATABASE_URL database persists).
    started_at = datetime.now(UTC).replace(microsecond=0)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise BenchError(
                    f"the server exited (code {proc.returncode}) while starting; log tail:\n{_tail(log_path)}"
                )
            try:
                status, raw = http_get(base + HEALTH_PATH, timeout=2.0)
            except OSError:
                status, raw = 0, b""
            # Up when the web server answers and the worker has run a heartbeat that beat sent since.
            beat = json.loads(raw).get("worker", {}).get("lastHeartbeatAt") if status == 200 else None
            if beat and datetime.fromisoformat(beat) >= started_at:
                break
            if time.monotonic() > deadline:
                state = f"last answer {status}: {raw.decode(errors='replace')}" if status else "no answer"
                raise BenchError(
                    f"{HEALTH_PATH} did not report the web server and the worker up within "
                    f"{STARTUP_TIMEOUT_S:.0f} s ({state}); log tail:\n{_tail(log_path)}"
                )
            time.sleep(0.25)
        # Each Procfile process leads its own group and session; gunicorn's and Celery's children stay in them.
        yield Server(base, frozenset(_descendant_groups(proc.pid) | {proc.pid}))
    finally:
        stop_server(proc)


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


class OthersMeter:
    """The CPU that processes other than the server, wrk and this driver use meanwhile, in cores.

    The load generator shares the cores with the server, so anything else running (a test suite, a build)
    lowers and scatters the figures; each round reports it so that a disturbed round shows as such.
    A local PostgreSQL server's processes count as the server's: its queries are part of every render.
    Linux only (/proc); elsewhere nothing is reported.
    """

    def __init__(self, groups: frozenset[int]) -> None:
        self.groups = groups
        self.ticks = os.sysconf("SC_CLK_TCK")

    def _busy_seconds(self) -> float | None:
        """CPU seconds all cores spent on anything but idling, since boot."""
        try:
            fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        except (OSError, ValueError):
            return None
        return (sum(fields) - fields[3] - fields[4]) / self.ticks  # all but idle and iowait; no guest twice

    def _own_seconds(self) -> float:
        """CPU seconds of the server's processes (with their reaped children), this driver and wrk."""
        server = sum(
            sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
            for _, name, fields in _proc_stats()
            if int(fields[2]) in self.groups or name in _DATABASE_PROCESS_NAMES
        )
        me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return server / self.ticks + me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime

    def sample(self) -> tuple[float, float, float] | None:
        """(wall, busy, own) now; None where /proc is not there."""
        busy = self._busy_seconds()
        return None if busy is None else (time.monotonic(), busy, self._own_seconds())

    @staticmethod
    def cores_between(before: tuple[float, float, float] | None, after: tuple[float, float, float] | None) -> float:
        """Cores others used between two samples (0 when unknown)."""
        if before is None or after is None or after[0] <= before[0]:
            return 0.0
        others = (after[1] - before[1]) - (after[2] - before[2])
        return max(0.0, others / (after[0] - before[0]))


def _row(label: str, result: WrkResult) -> str:
    return f"{label:<20} {result.requests_per_sec:>9,.0f} {result.p50_ms:>9.1f} {result.p99_ms:>8.1f}"


def _median(results: list[WrkResult]) -> WrkResult:
    return WrkResult(
        requests_per_sec=statistics.median(r.requests_per_sec for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
    )


def gunicorn_workers(env: dict[str, str]) -> int:
    """The worker count as gunicorn.conf.py computes it: WEB_CONCURRENCY, or one per core."""
    return int(env.get("WEB_CONCURRENCY") or os.cpu_count() or 1)


def measure(args: argparse.Namespace, wrk: str, work_dir: Path) -> None:
    """Set up the database, start the server, check it, warm up, measure the rounds and print the table."""
    port = free_port()
    env = bench_env(work_dir / "data", port)
    token, target = prepare_database(env, args.templates, args.versions)
    render_path = f"/api/templates/{target['templateId']}/render"
    body = {"environment": ENVIRONMENT, "variables": target["variables"]}
    script = write_lua(work_dir / "render.lua", body, token)
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
        say("bench: render returned the expected text, and the plain view 200")
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
        say(f"bench: {args.rounds} round(s) of {wrk_args}, plain then render")
        say(f"{'':<20} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>8}   {'others':>6}  (cores other processes used)")
        plain: list[WrkResult] = []
        render: list[WrkResult] = []
        disturbed = 0.0
        for number in range(1, args.rounds + 1):
            for label, results, url, lua in (
                ("plain", plain, PLAIN_PATH, None),
                ("render", render, render_path, script),
            ):
                before = meter.sample()
                results.append(load.run(base + url, args.duration, lua))
                others = meter.cores_between(before, meter.sample())
                disturbed = max(disturbed, others)
                line = _row(f"round {number}: {label}", results[-1]) + f"   {others:>6.2f}"
                if label == "render":
                    line += f"  render/plain {render[-1].requests_per_sec / plain[-1].requests_per_sec:.0%}"
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
    say(f"{'render / plain':<20} {ratio:>9.0%}")
    say(f"goal: >= {GOAL_RATIO:.0%} of plain and p99 < {GOAL_P99_MS:.0f} ms: " + ("met" if met else "NOT met"))
    if disturbed > BUSY_WARNING_CORES:
        say(
            f"WARNING: other processes used up to {disturbed:.2f} cores during the rounds: these figures are "
            "lower and noisier than this machine can do; run again when it is quiet"
        )


def _raise_interrupt(signum: int, frame: Any) -> NoReturn:
    """SIGTERM and SIGHUP end the run like Ctrl-C, so that the server is stopped on the way out."""
    raise KeyboardInterrupt


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
    if not (VENV_BIN / "honcho").exists():
        say(f"bench: {VENV_BIN / 'honcho'} not found: run `make setup-dev` first")
        return 2

    # Ctrl-C must stop the run (and so the server) even when started with SIGINT ignored, as shells do
    # for background jobs: wrk alone would stop early and its truncated figures be taken for a round.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    wrk = ensure_wrk()
    work_dir = Path(tempfile.mkdtemp(prefix="lifecycle-bench-"))
    succeeded = False
    try:
        measure(args, wrk, work_dir)
        succeeded = True
    except BenchError as exc:
        say(f"bench: FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        say("bench: interrupted (the server, if started, was stopped)")
        return 130
    finally:
        # On failure the database and the server log are what explains it: keep them.
        if args.keep or not succeeded:
            say(f"bench: kept {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
