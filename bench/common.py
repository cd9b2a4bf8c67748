"""What the benchmark drivers share: the server started as `make run` starts it, its environment, its setup.

Standard library only: the drivers must run before anything else is known to work.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

PROJECT_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = PROJECT_DIR / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python")
HEALTH_PATH = "/api/health"

STARTUP_TIMEOUT_S = 60.0
HEARTBEAT_SECONDS = 5
STOP_GRACE_S = 10.0  # honcho itself waits 5 s for its children before killing them
LOG_TAIL_LINES = 40
# Other processes using more than this many cores meanwhile make the figures lower and noisier: a warning.
BUSY_WARNING_CORES = 0.15

# Processes of a local database server, counted with the server (the benchmark's own database).
_DATABASE_PROCESS_NAMES = frozenset({"postgres", "postmaster"})

# urllib must reach the local server directly, whatever http_proxy the user's shell sets.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BenchError(Exception):
    """A failure that makes the figures meaningless: reported, and the run exits non-zero."""


def say(text: str = "") -> None:
    """Print a line at once (the run is long, and its progress should show as it goes)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def apt_install(package: str) -> None:
    """Install a Debian package (as root): once as is, then once more after refreshing stale package lists."""
    install = ["apt-get", "install", "-y", package]
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, env=apt_env, stdout=subprocess.DEVNULL, check=False).returncode != 0:
        # The package lists may be missing (fresh containers) or stale: refresh them once and retry.
        subprocess.run(["apt-get", "update"], env=apt_env, stdout=subprocess.DEVNULL, check=True)
        subprocess.run(install, env=apt_env, stdout=subprocess.DEVNULL, check=True)


def free_port() -> int:
    """A port nobody listens on now: bind port 0 and let the kernel pick one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bench_env(
    data_dir: Path, port: int, *, database_url: str | None = None, bench_views: bool = False
) -> dict[str, str]:
    """The environment of every step: the user's, pointed at the benchmark's own data and database."""
    env = dict(os.environ)
    # Never the user's database or Redis: only what the benchmark itself is told to use.
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    env["LIFECYCLE_DATA_DIR"] = str(data_dir)
    if bench_views:
        env["LIFECYCLE_BENCH_VIEWS"] = "1"
    env["PORT"] = str(port)
    # Frequent heartbeats let startup wait until the worker and beat have run one task: their own startup
    # (imports, first connections) is CPU the measured rounds must not share. One write every few seconds
    # costs the server nothing measurable.
    env["HEARTBEAT_SECONDS"] = str(HEARTBEAT_SECONDS)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"  # the server log should be complete when its tail is printed
    # One token sends what many integrations would: rate limits count every request (their cost is part of
    # what is measured) but stop none.
    for scope in ("RENDER", "INGESTION", "USER", "ANON"):
        env.setdefault(f"THROTTLE_RATE_{scope}", "1000000/s")
    return env


def run_step(args: list[str], env: dict[str, str], what: str) -> str:
    """Run one setup step in the project directory; its stdout, or BenchError with all it printed."""
    done = subprocess.run(args, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"{what} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def last_json_line(out: str, what: str) -> Any:
    """The JSON a setup script printed alone on its last stdout line (its progress goes to stderr)."""
    lines = out.strip().splitlines()
    if not lines:
        raise BenchError(f"{what} printed nothing")
    try:
        return json.loads(lines[-1])
    except ValueError:
        raise BenchError(f"{what} did not end with a JSON line:\n{out}") from None


def setup_database(env: dict[str, str], groups: str) -> str:
    """Migrate, seed the roles and create the `bench` user with these roles: its API token."""
    run_step([PYTHON, "manage.py", "migrate", "--noinput"], env, "manage.py migrate")
    run_step([PYTHON, "manage.py", "seed"], env, "manage.py seed")
    out = run_step([PYTHON, "manage.py", "create_api_token", "bench", "--groups", groups], env, "create_api_token")
    lines = out.strip().splitlines()
    if not lines:
        raise BenchError("create_api_token printed no token")
    return lines[-1].strip()


def proc_stats() -> Iterator[tuple[int, str, list[str]]]:
    """Each process's id, name, and the fields of /proc/<pid>/stat after the name (state, ppid, pgrp...)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
            yield int(stat.parent.name), head.split("(", 1)[1], tail.split()
        except (OSError, IndexError, ValueError):
            continue


def descendants(pid: int) -> set[int]:
    """Every process descending from `pid` (itself included), from /proc; elsewhere just `pid`."""
    parent_of = {child: int(fields[1]) for child, _, fields in proc_stats()}
    family, grown = {pid}, True
    while grown:
        found = {child for child, parent in parent_of.items() if parent in family and child not in family}
        family |= found
        grown = bool(found)
    return family


def descendant_groups(pid: int) -> set[int]:
    """The process groups of every descendant of `pid`, which leads its own group and session.

    honcho runs each Procfile line in a new session (from a helper process), so signalling honcho's group
    does not reach them. Read from /proc; elsewhere nothing is found and honcho alone stops its children.
    """
    group_of = {child: int(fields[2]) for child, _, fields in proc_stats()}
    return {group_of[member] for member in descendants(pid) if member in group_of}


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
        groups = descendant_groups(proc.pid)
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


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log, to show with a failure."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def http_get(url: str, timeout: float = 5.0, token: str | None = None) -> tuple[int, bytes]:
    """Status and body of a GET (with the token, if given); error statuses are returned, not raised."""
    headers = {"Authorization": f"Token {token}"} if token else {}
    try:
        with _HTTP.open(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_json(
    method: str, url: str, body: dict[str, Any] | None, token: str, timeout: float = 5.0
) -> tuple[int, bytes]:
    """Status and body of a request with a JSON body (if any) and the token; error statuses are returned."""
    headers = {"Authorization": f"Token {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with _HTTP.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_post_json(url: str, body: dict[str, Any], token: str) -> tuple[int, bytes]:
    """Status and body of a JSON POST with the token, as wrk will send it."""
    return http_json("POST", url, body, token)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.5 for the median, 0.99 for p99): a value that was measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass(frozen=True)
class Server:
    """The running server: where it answers, honcho's pid, and the process groups of all its processes."""

    base: str
    groups: frozenset[int]
    pid: int


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
                    f"the server exited (code {proc.returncode}) while starting; log tail:\n{tail(log_path)}"
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
                    f"{STARTUP_TIMEOUT_S:.0f} s ({state}); log tail:\n{tail(log_path)}"
                )
            time.sleep(0.25)
        # Each Procfile process leads its own group and session; gunicorn's and Celery's children stay in them.
        yield Server(base, frozenset(descendant_groups(proc.pid) | {proc.pid}), proc.pid)
    finally:
        stop_server(proc)


class OthersMeter:
    """The CPU that processes other than the server, the load generator (wrk, clients) and this driver use
    meanwhile, in cores.

    The load generator shares the cores with the server, so anything else running (a test suite, a build)
    lowers and scatters the figures; each round reports it so that a disturbed round shows as such.
    A local PostgreSQL server's processes count as the server's: its queries are part of every request.
    Linux only (/proc); elsewhere nothing is reported.
    """

    def __init__(self, groups: frozenset[int], pids: frozenset[int] = frozenset()) -> None:
        self.groups = groups
        self.pids = pids  # more processes of the benchmark's own (e.g. load-generating clients)
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
            for pid, name, fields in proc_stats()
            if int(fields[2]) in self.groups or pid in self.pids or name in _DATABASE_PROCESS_NAMES
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


def gunicorn_workers(env: dict[str, str]) -> int:
    """The worker count as gunicorn.conf.py computes it: WEB_CONCURRENCY, or one per core."""
    return int(env.get("WEB_CONCURRENCY") or os.cpu_count() or 1)


def _raise_interrupt(signum: int, frame: Any) -> NoReturn:
    """SIGTERM and SIGHUP end the run like Ctrl-C, so that the server is stopped on the way out."""
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """Make Ctrl-C, SIGTERM and SIGHUP raise KeyboardInterrupt, so that every server is stopped on the way out.

    Ctrl-C must stop the run even when started with SIGINT ignored, as shells do for background jobs.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)


def honcho_installed() -> bool:
    """Whether the dev tools the benchmarks start the server with are there; says what to do if not."""
    if (VENV_BIN / "honcho").exists():
        return True
    say(f"bench: {VENV_BIN / 'honcho'} not found: run `make setup-dev` first")
    return False


def run_in_work_dir(prefix: str, keep: bool, interrupted: str, body: Callable[[Path], None]) -> int:
    """Run `body` in a new temporary directory, as a benchmark's exit code: 0, 1 on BenchError, 130 on Ctrl-C
    (then `interrupted` says what was stopped). The directory is deleted unless `keep`, or the run failed:
    its database and server log are what explains a failure."""
    stop_on_signals()
    work_dir = Path(tempfile.mkdtemp(prefix=prefix))
    succeeded = False
    try:
        body(work_dir)
        succeeded = True
    except BenchError as exc:
        say(f"bench: FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        say(f"bench: interrupted ({interrupted})")
        return 130
    finally:
        if keep or not succeeded:
            say(f"bench: kept {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0
