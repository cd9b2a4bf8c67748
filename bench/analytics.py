"""`make bench` (second part): executions at a million rows, against the real server and its real database.

For each database (SQLite as `make run` uses it by default, and a throwaway PostgreSQL cluster started here
from the machine's own binaries, fsync on), the server is started exactly as `make run` starts it, then:

1. ingestion: 1,000,000 executions spread over the last 30 days, posted by concurrent client processes to
   POST /api/executions/batch in time-ordered batches of 200, as integrations report them; then, once the
   worker has rolled everything up, the rate of inserting the same kind of rows straight into the executions
   table with the database driver (executemany, one transaction per batch; deleted again afterwards), and
   into an empty copy of the table (same indexes, but small: the database at its fastest), in the same run;
2. queries: metrics of the busy template's busiest version and 30-day analytics of the busy template, next
   to the time the database takes to compute count, average and p95 with one plain SQL query over the raw
   rows;
3. memory: the RSS of the gunicorn workers, sampled while they answer.

Standard library only: the driver must run before anything else is known to work (the database work that
needs psycopg runs in bench/analytics_db.py, the seeding in bench/seed_analytics.py, both with the venv).
"""

from __future__ import annotations

import argparse
import bisect
import http.client
import json
import math
import multiprocessing
import os
import pwd
import queue
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script (`python bench/analytics.py`), the project is not on the path: bench.common needs it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (
    BUSY_WARNING_CORES,
    PYTHON,
    BenchError,
    OthersMeter,
    Server,
    apt_install,
    bench_env,
    descendants,
    free_port,
    gunicorn_workers,
    honcho_installed,
    last_json_line,
    percentile,
    proc_stats,
    run_in_work_dir,
    run_step,
    running_server,
    say,
    setup_database,
)
from bench.pages import WARMUP_CALLS as PAGE_WARMUP_CALLS
from bench.pages import TimedPage, page_goals, page_rows, set_password, sign_in, time_page

BATCH_PATH = "/api/executions/batch"
METRICS_PATH = "/api/performance/metrics"
ANALYTICS_PATH = "/api/performance/analytics"
DAYS = 30

# The goals (issue "Fast at scale").
GOAL_API_RATE_POSTGRESQL = 12_000.0
GOAL_DIRECT_SHARE = 0.40
GOAL_P50_MS = 50.0
GOAL_SPEEDUP = 5.0

# The traffic: the busy template takes this share, over its versions from the oldest to the latest.
BUSY_SHARE = 0.40
BUSY_VERSION_WEIGHTS = (0.2, 0.3, 0.5)
REGIONS = ("us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-1", "sa-east-1")
REGION_WEIGHTS = (35, 25, 20, 12, 8)
STATUSES = ("success", "error", "timeout")
STATUS_WEIGHTS = (90, 7, 3)
ERRORS = (
    ("RateLimitError", "429 Too Many Requests: retry after {} s"),
    ("ProviderError", "502 Bad Gateway from the provider (attempt {})"),
    ("InvalidOutput", "the answer was not valid JSON (position {})"),
    ("ContentFilter", "the answer was blocked by the content filter (rule {})"),
)
QUESTIONS = (
    "How do I reset the admin password?",
    "Why is my invoice higher this month?",
    "Can I move my subscription to another account?",
    "The router keeps dropping the connection every hour.",
    "Where do I find the API keys for my project?",
)
ANSWERS = (
    "To reset the admin password, open Settings > Security and choose Reset.",
    "Your invoice includes the add-on you enabled on the 3rd; here is the breakdown.",
    "Yes: an owner of both accounts can transfer it from the Billing page.",
    "Please update the firmware to 2.4.1, which fixes the hourly reconnection.",
    "API keys are under Project > Settings > Keys; only admins can see them.",
)
USER_AGENT = "lifecycle-sdk-python/1.4.2 (CPython 3.12; linux)"

WARMUP_CALLS = 5
RAW_RUNS = 5
RSS_INTERVAL_S = 0.02
PROGRESS_EVERY_S = 10.0
HTTP_TIMEOUT_S = 120.0
STOPPED = "stopped: another client failed"
BARRIER_TIMEOUT_S = 900.0  # generating the bodies of a million rows takes well under a minute


# --- What is reported: the seeded templates, and the rows -------------------------------------------------


@dataclass(frozen=True)
class Targets:
    """The templates executions are reported for (as bench/seed_analytics.py created them)."""

    busy_template: str
    busy_versions: tuple[str, ...]  # oldest first
    others: tuple[tuple[str, str], ...]  # (template id, version id)
    vendor: str

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Targets:
        """Read what the seeding script printed."""
        return cls(
            busy_template=raw["busy"]["templateId"],
            busy_versions=tuple(raw["busy"]["versionIds"]),
            others=tuple((other["templateId"], other["versionId"]) for other in raw["others"]),
            vendor=raw["vendor"],
        )

    @property
    def busiest_version(self) -> str:
        """The busy template's version with the most traffic (the latest: it has the largest weight)."""
        weights = _busy_weights(len(self.busy_versions))
        return self.busy_versions[max(range(len(weights)), key=weights.__getitem__)]

    def template_of(self) -> dict[str, str]:
        """Each version's template."""
        found = dict.fromkeys(self.busy_versions, self.busy_template)
        found.update({version: template for template, version in self.others})
        return found


def _busy_weights(count: int) -> tuple[float, ...]:
    """The busy versions' weights (oldest first), for however many versions were seeded."""
    weights = BUSY_VERSION_WEIGHTS[-count:] if count <= len(BUSY_VERSION_WEIGHTS) else (1.0,) * count
    total = sum(weights)
    return tuple(weight / total for weight in weights)


class RowMaker:
    """Executions as integrations report them, drawn from seeded random generators (reproducible).

    Most values are realistic rather than uniform: lognormal response and token counts, a few error types,
    satisfaction reported by some users and conversion by half, a unique request id per row.
    """

    def __init__(self, targets: Targets, run: str) -> None:
        self.run = run
        versions = list(targets.busy_versions) + [version for _, version in targets.others]
        weights = [BUSY_SHARE * weight for weight in _busy_weights(len(targets.busy_versions))]
        weights += [(1 - BUSY_SHARE) / len(targets.others)] * len(targets.others)
        self.versions = versions
        self.cumulative = _cumulative(weights)
        # Every fourth template is a chat prompt for Anthropic (bench/seed_registry.py's definition_for).
        self.provider = dict.fromkeys(targets.busy_versions, "openai")
        for index, (_, version) in enumerate(targets.others, start=1):
            self.provider[version] = "anthropic" if index % 4 == 3 else "openai"
        self.region_cumulative = _cumulative(REGION_WEIGHTS)
        self.status_cumulative = _cumulative(STATUS_WEIGHTS)

    def row(self, rng: random.Random, moment: float, number: int) -> dict[str, Any]:
        """One execution at `moment` (Unix seconds); `number` makes its request id unique in the run."""
        version = self.versions[_pick(rng, self.cumulative)]
        status = STATUSES[_pick(rng, self.status_cumulative)]
        input_tokens = 20 + int(rng.lognormvariate(5.0, 0.6))
        output_tokens = 0 if status == "timeout" else 10 + int(rng.lognormvariate(5.4, 0.7))
        if status == "timeout":
            response_time = round(30_000 + rng.random() * 500, 1)
        else:
            response_time = round(rng.lognormvariate(6.6, 0.55), 1)
        body: dict[str, Any] = {
            "templateVersionId": version,
            "status": status,
            "responseTime": response_time,
            "environment": "production",
            "timestamp": datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "userId": f"user-{rng.randrange(50_000)}",
            "provider": self.provider[version],
            "input": {"question": QUESTIONS[rng.randrange(len(QUESTIONS))], "locale": "en-US"},
            "tokenUsage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
                "cost": round((input_tokens * 0.15 + output_tokens * 0.6) / 1_000_000, 8),
            },
            "metadata": {
                "userAgent": USER_AGENT,
                "region": REGIONS[_pick(rng, self.region_cumulative)],
                "requestId": f"bench-{self.run}-{number:08d}",
            },
        }
        if status == "success":
            body["output"] = ANSWERS[rng.randrange(len(ANSWERS))]
        elif status == "timeout":
            body["error"] = {"type": "Timeout", "message": "no answer from the provider within 30 s"}
        else:
            error_type, message = ERRORS[rng.randrange(len(ERRORS))]
            body["error"] = {"type": error_type, "message": message.format(rng.randint(1, 5))}
        if rng.random() < 0.3:
            body["userSatisfaction"] = rng.choices((1, 2, 3, 4, 5), weights=(5, 8, 17, 35, 35))[0]
        if rng.random() < 0.5:
            body["converted"] = rng.random() < 0.25
        return body


def _cumulative(weights: Sequence[float]) -> list[float]:
    total, running = float(sum(weights)), 0.0
    cumulative = []
    for weight in weights:
        running += weight / total
        cumulative.append(running)
    cumulative[-1] = 1.0
    return cumulative


def _pick(rng: random.Random, cumulative: list[float]) -> int:
    return bisect.bisect_right(cumulative, rng.random())


def sorted_moments(count: int, start: float, end: float, seed: int) -> list[float]:
    """`count` instants spread uniformly over [start, end), sorted: the order integrations report them in."""
    rng = random.Random(seed)
    span = end - start
    return sorted(start + rng.random() * span for _ in range(count))


def batch_rows(maker: RowMaker, moments: Sequence[float], batch: int, size: int, seed: int) -> list[dict[str, Any]]:
    """Batch number `batch` of the sorted moments: `size` consecutive rows, so a short span of time.

    Its own generator, seeded by the batch number: the rows are the same whichever client builds them.
    """
    rng = random.Random(seed * 1_000_003 + batch)
    first = batch * size
    return [maker.row(rng, moments[index], index) for index in range(first, min(first + size, len(moments)))]


# --- Ingestion through the API ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestPlan:
    """What the client processes post, and where."""

    port: int
    token: str
    batch: int
    clients: int
    seed: int
    maker: RowMaker
    moments: list[float]

    @property
    def batches(self) -> int:
        return math.ceil(len(self.moments) / self.batch)


def _client(
    number: int,
    plan: IngestPlan,
    barrier: Any,
    abort: Any,
    posted: Any,
    results: Any,
) -> None:
    """One client process: build its bodies (before the clock starts), wait for the others, post them all.

    Batch b goes to client b % clients, so the clients post neighbouring moments at the same time, as
    integrations reporting live do. Any answer but 201 with every row created stops every client.
    """
    started = ended = 0.0
    rows = 0
    error: str | None = None
    try:
        bodies: list[tuple[int, bytes]] = []
        for batch in range(number, plan.batches, plan.clients):
            executions = batch_rows(plan.maker, plan.moments, batch, plan.batch, plan.seed)
            body = json.dumps({"executions": executions}, separators=(",", ":")).encode()
            bodies.append((len(executions), body))
        headers = {"Content-Type": "application/json", "Authorization": f"Token {plan.token}"}
        barrier.wait(BARRIER_TIMEOUT_S)
        started = time.monotonic()
        for count, body in bodies:
            if abort.is_set():
                error = STOPPED
                break
            connection = http.client.HTTPConnection("127.0.0.1", plan.port, timeout=HTTP_TIMEOUT_S)
            try:
                connection.request("POST", BATCH_PATH, body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
            finally:
                connection.close()
            created = _created(answer) if response.status == 201 else None
            if created != count:
                text = answer.decode(errors="replace")[:2000]
                error = f"POST {BATCH_PATH} of {count} rows answered {response.status} {text}"
                break
            rows += count
            with posted.get_lock():
                posted.value += count
        ended = time.monotonic()
    except BaseException as exc:  # reported to the parent, whatever it is (also Ctrl-C)
        error = f"{type(exc).__name__}: {exc}"
        barrier.abort()
    finally:
        if error:
            abort.set()
        results.put((number, started, ended, rows, error and f"client {number}: {error}"))


def _created(answer: bytes) -> int | None:
    try:
        created = json.loads(answer).get("created")
    except (ValueError, AttributeError):
        return None
    return created if isinstance(created, int) else None


@dataclass(frozen=True)
class Ingested:
    rows: int
    seconds: float
    others: float  # cores that other processes used meanwhile

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def ingest(plan: IngestPlan, server: Server, sampler: RssSampler) -> Ingested:
    """Post every batch from the client processes at once; the rows per second of the posting phase."""
    context = multiprocessing.get_context("fork")  # the clients share the sorted moments without a copy
    barrier = context.Barrier(plan.clients + 1)
    abort = context.Event()
    posted = context.Value("q", 0)
    results = context.Queue()
    clients = [
        context.Process(target=_client, args=(number, plan, barrier, abort, posted, results), daemon=True)
        for number in range(plan.clients)
    ]
    for client in clients:
        client.start()
    try:
        say(f"bench: {plan.clients} clients build their request bodies (before the clock starts) ...")
        generated = time.monotonic()
        try:
            barrier.wait(BARRIER_TIMEOUT_S)
        except threading.BrokenBarrierError:
            errors = [error for *_, error in (_result(results) for _ in clients) if error]
            first = [error for error in errors if "BrokenBarrierError" not in error] or errors
            raise BenchError("; ".join(first) or "a client failed while building its bodies") from None
        say(f"bench: bodies built in {time.monotonic() - generated:.1f} s; posting {len(plan.moments):,} rows")
        meter = OthersMeter(server.groups, frozenset(client.pid for client in clients if client.pid))
        before = meter.sample()
        with sampler:
            started, last_report = time.monotonic(), time.monotonic()
            while any(client.is_alive() for client in clients) and not abort.is_set():
                time.sleep(0.2)
                if time.monotonic() - last_report >= PROGRESS_EVERY_S:
                    last_report = time.monotonic()
                    done = posted.value
                    rate = done / (last_report - started)
                    say(f"bench:   {done:>10,} rows posted, {rate:,.0f} rows/s so far")
        outcomes = [_result(results) for _ in clients]
        others = meter.cores_between(before, meter.sample())  # the clients are not reaped yet: still counted
        # The first failure, not the clients it stopped.
        errors = [error for *_, error in outcomes if error and not error.endswith(STOPPED)]
        if errors:
            raise BenchError("ingestion failed: " + "; ".join(errors))
        rows = sum(count for _, _, _, count, _ in outcomes)
        if rows != len(plan.moments):
            raise BenchError(f"the clients posted {rows:,} rows, not {len(plan.moments):,}")
        seconds = max(end for _, _, end, _, _ in outcomes) - min(start for _, start, _, _, _ in outcomes)
        return Ingested(rows, seconds, others)
    finally:
        abort.set()
        for client in clients:
            client.join(timeout=5)
            if client.is_alive():
                client.terminate()
                client.join()


def _result(results: Any) -> tuple[int, float, float, int, str | None]:
    try:
        outcome: tuple[int, float, float, int, str | None] = results.get(timeout=30)
    except queue.Empty:
        raise BenchError("a client process ended without reporting (killed?)") from None
    return outcome


# --- The server's memory ----------------------------------------------------------------------------------


def gunicorn_worker_pids(server: Server) -> list[int]:
    """The gunicorn workers: processes started by honcho running gunicorn that have no children of their own.

    (The master has its workers as children, and a shell that runs it has the master.)
    """
    family = descendants(server.pid)
    parent_of = {pid: int(fields[1]) for pid, _, fields in proc_stats() if pid in family}
    gunicorns = set()
    for pid in family:
        try:
            if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes():
                gunicorns.add(pid)
        except OSError:
            continue
    parents = set(parent_of.values())
    return sorted(pid for pid in gunicorns if pid not in parents)


def _rss_bytes(pid: int) -> int | None:
    try:
        resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return resident * os.sysconf("SC_PAGE_SIZE")


@dataclass
class RssSampler:
    """The resident memory of some processes, sampled every RSS_INTERVAL_S while the block runs."""

    pids: list[int]
    peak: dict[int, int] = field(default_factory=dict)
    peak_sum: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        """Read every process's RSS once; keep the peaks."""
        total = 0
        for pid in self.pids:
            rss = _rss_bytes(pid)
            if rss is not None:
                self.peak[pid] = max(self.peak.get(pid, 0), rss)
                total += rss
        self.peak_sum = max(self.peak_sum, total)

    def _run(self) -> None:
        while not self._stop.wait(RSS_INTERVAL_S):
            self.sample()

    def __enter__(self) -> RssSampler:
        self.sample()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    @property
    def peak_worker_mb(self) -> float:
        return max(self.peak.values(), default=0) / 2**20

    @property
    def peak_sum_mb(self) -> float:
        return self.peak_sum / 2**20


# --- Queries ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    """Latencies of sequential calls of one endpoint, and its last answer."""

    times_ms: list[float]
    answer: dict[str, Any]

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        return percentile(self.times_ms, 0.95)


def _get(port: int, path: str, token: str) -> tuple[float, dict[str, Any]]:
    """One GET on a new connection: its wall time in ms (connect to last byte) and its JSON; 200 or BenchError."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT_S)
    try:
        connection.request("GET", path, headers={"Authorization": f"Token {token}"})
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise BenchError(f"GET {path} returned {response.status}: {raw.decode(errors='replace')[:2000]}")
    answer: dict[str, Any] = json.loads(raw)
    return elapsed, answer


def time_calls(port: int, path: str, token: str, calls: int) -> Timed:
    """WARMUP_CALLS untimed calls, then `calls` sequential timed ones."""
    answer: dict[str, Any] = {}
    for _ in range(WARMUP_CALLS):
        _get(port, path, token)
    times = []
    for _ in range(calls):
        elapsed, answer = _get(port, path, token)
        times.append(elapsed)
    return Timed(times, answer)


@dataclass(frozen=True)
class Raw:
    """What one plain SQL query over the raw rows computed, and how long the database took (median)."""

    count: int
    average: float | None
    p95: float | None
    median_ms: float


def raw_query(env: dict[str, str], scope: str, scope_id: str, start: str | None, end: str | None) -> Raw:
    """Count, average and p95 of the response times of a version or a template, in one SQL query."""
    args = [PYTHON, "bench/analytics_db.py", "raw", "--scope", scope, "--id", scope_id, "--runs", str(RAW_RUNS)]
    if start is not None and end is not None:
        args += ["--start", start, "--end", end]
    found = last_json_line(run_step(args, env, "bench/analytics_db.py raw"), "bench/analytics_db.py raw")
    return Raw(found["count"], found["average"], found["p95"], found["medianMs"])


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# --- PostgreSQL, thrown away after the run ----------------------------------------------------------------


def find_postgresql() -> Path | None:
    """The directory of the machine's PostgreSQL server binaries (the newest), or None."""
    found = []
    for initdb in Path("/usr/lib/postgresql").glob("*/bin/initdb"):
        try:
            found.append((int(initdb.parent.parent.name), initdb.parent))
        except ValueError:
            continue
    if found:
        return max(found)[1]
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


def ensure_postgresql() -> Path | None:
    """PostgreSQL's binaries; installed (Debian's package) as root when missing; None (with why) otherwise."""
    found = find_postgresql()
    if found is not None:
        return found
    if os.geteuid() != 0:
        say("bench: PostgreSQL SKIPPED: no initdb in /usr/lib/postgresql/*/bin or on PATH. Install it, e.g.")
        say("  sudo apt-get install -y postgresql     (Debian, Ubuntu)")
        say("  (or run the benchmark as root, and it installs Debian's package itself)")
        return None
    say("bench: PostgreSQL is not installed; installing Debian's postgresql package with apt-get")
    apt_install("postgresql")
    found = find_postgresql()
    if found is None:
        raise BenchError("apt-get installed postgresql, but no initdb was found")
    return found


@contextmanager
def postgresql_cluster(bin_dir: Path) -> Iterator[str]:
    """A new cluster on 127.0.0.1 and a free port (stock settings: fsync on), as a DATABASE_URL; deleted after."""
    pg_dir = Path(tempfile.mkdtemp(prefix="lifecycle-bench-pg-"))
    as_pg: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root: the cluster belongs to the postgres user (as in .ci/run).
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            subprocess.run(["useradd", "--system", "--home-dir", str(pg_dir), "postgres"], check=True)
            owner = pwd.getpwnam("postgres")
        os.chown(pg_dir, owner.pw_uid, owner.pw_gid)
        as_pg = ["runuser", "-u", "postgres", "--"]
    data, log = pg_dir / "data", pg_dir / "log"
    port = free_port()

    def pg(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*as_pg, *args], cwd=pg_dir, capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            raise BenchError(f"{' '.join(args)} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
        return done

    started = False
    try:
        pg(str(bin_dir / "initdb"), "--pgdata", str(data), "--username", "lifecycle", "--auth", "trust",
           "--encoding", "UTF8", "--no-locale")  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {pg_dir}"
        pg(str(bin_dir / "pg_ctl"), "--pgdata", str(data), "--wait", "--log", str(log), "-o", options, "start")
        started = True
        pg(str(bin_dir / "createdb"), "--host", "127.0.0.1", "--port", str(port), "--username", "lifecycle",
           "lifecycle")  # fmt: skip
        version = pg(str(bin_dir / "postgres"), "--version").stdout.strip()
        say(f"bench: PostgreSQL cluster up on 127.0.0.1:{port} ({version}; stock settings, fsync on)")
        yield f"postgres://lifecycle@127.0.0.1:{port}/lifecycle"
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave it running
        try:
            if started:
                stop = pg(
                    str(bin_dir / "pg_ctl"), "--pgdata", str(data), "--mode", "fast", "--wait", "stop", check=False
                )
                if stop.returncode != 0:
                    pg(str(bin_dir / "pg_ctl"), "--pgdata", str(data), "--mode", "immediate", "stop", check=False)
            shutil.rmtree(pg_dir, ignore_errors=True)
            say("bench: PostgreSQL cluster stopped and deleted")
        finally:
            signal.signal(signal.SIGINT, previous)


# --- One database -----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """Everything measured on one database."""

    vendor: str
    workers: int
    api: Ingested
    direct: Ingested  # into the executions table as the API left it: the goal's comparison
    direct_copy: Ingested  # into an empty copy of the table: small indexes, the database at its fastest
    metrics: Timed
    analytics: Timed
    metrics_raw: Raw
    analytics_raw: Raw
    ingest_memory: RssSampler
    idle_memory: RssSampler
    query_memory: RssSampler
    disagreements: list[str]
    query_others: float  # cores other processes used while the queries were timed
    rollup_lag: float  # seconds from the last post until the worker had rolled up every batch
    pages: list[TimedPage]  # the dashboard's pages over the same rows
    page_others: float  # cores other processes used while the pages were timed

    @property
    def end_to_end_rate(self) -> float:
        """Rows per second from the first post until every row was in the rollups: what can be sustained."""
        return self.api.rows / (self.api.seconds + self.rollup_lag)

    @property
    def share(self) -> float:
        return self.api.rate / self.direct.rate

    def goals(self) -> list[tuple[str, bool]]:
        """Each goal with whether it was met."""
        goals = []
        if self.vendor == "postgresql":
            goals.append(
                (
                    f"ingestion >= {GOAL_API_RATE_POSTGRESQL:,.0f} executions/s through the API ({self.api.rate:,.0f})",
                    self.api.rate >= GOAL_API_RATE_POSTGRESQL,
                )
            )
        goals.append(
            (f"ingestion >= {GOAL_DIRECT_SHARE:.0%} of the direct insert rate ({self.share:.0%})",
             self.share >= GOAL_DIRECT_SHARE)
        )  # fmt: skip
        for label, timed, raw in (
            ("metrics", self.metrics, self.metrics_raw),
            ("analytics", self.analytics, self.analytics_raw),
        ):
            goals.append((f"{label} p50 < {GOAL_P50_MS:.0f} ms ({timed.p50:.1f} ms)", timed.p50 < GOAL_P50_MS))
            speedup = raw.median_ms / timed.p50
            goals.append(
                (f"{label} >= {GOAL_SPEEDUP:.0f}x faster than the raw query ({speedup:.1f}x)", speedup >= GOAL_SPEEDUP)
            )
        return goals + page_goals(self.pages)


def time_dashboard(port: int, targets: Targets, password: str, calls: int) -> list[TimedPage]:
    """Each dashboard page over the ingested rows, loaded as the signed-in `bench` user (analyst and deployer)."""
    cookie = sign_in(port, "bench", password)
    busy = f"/dashboard/templates/{targets.busy_template}/"
    pages = (
        ("overview, last 7 days", "/dashboard/?period=7d", b'class="spark"'),
        (f"overview, last {DAYS} days", f"/dashboard/?period={DAYS}d", b'class="spark"'),
        ("busy template, last 7 days", f"{busy}?period=7d", b'id="series-charts"'),
        (f"busy template, last {DAYS} days", f"{busy}?period={DAYS}d", b'id="series-charts"'),
        (f"rollbacks and alerts, last {DAYS} days", f"/dashboard/rollbacks/?period={DAYS}d", b'id="rollbacks-title"'),
    )
    say(f"bench: dashboard: {len(pages)} pages, {PAGE_WARMUP_CALLS} warm-up loads, then {calls} timed loads each")
    return [time_page(port, label, path, cookie, calls, marker) for label, path, marker in pages]


def _agree(label: str, api: dict[str, Any], raw: Raw, count_key: str, avg: Any, p95: Any) -> list[str]:
    """Where the API's numbers and the raw query's differ (count exactly; average and p95 within 1%)."""
    problems = []
    if api.get(count_key) != raw.count:
        problems.append(f"{label}: {count_key} {api.get(count_key)} but the raw rows count {raw.count}")
    for name, mine, theirs in (("average", avg, raw.average), ("p95", p95, raw.p95)):
        if theirs is None or mine is None:
            if theirs != mine:
                problems.append(f"{label}: {name} {mine} but {theirs} from the raw rows")
        elif abs(mine - theirs) > 0.01 * abs(theirs):
            problems.append(f"{label}: {name} {mine} but {theirs:.2f} from the raw rows (more than 1% apart)")
    return problems


def run_database(vendor: str, args: argparse.Namespace, work_dir: Path, database_url: str | None) -> Outcome:
    """Set up, start the server, ingest, insert directly, query, and measure the memory, on one database."""
    port = free_port()
    env = bench_env(work_dir / "data", port, database_url=database_url)
    # The API as integrations use it: a service account (integration) reports; the same token seeds
    # templates (author) and reads the numbers (analyst).
    token = setup_database(env, "author,analyst,integration,deployer")
    password = set_password(env, "bench")
    out = run_step([PYTHON, "bench/seed_analytics.py"], env, "bench/seed_analytics.py")
    seeded = last_json_line(out, "bench/seed_analytics.py")
    targets = Targets.from_json(seeded)
    (work_dir / "targets.json").write_text(json.dumps(seeded))
    say(f"bench: seeded 1 busy template ({len(targets.busy_versions)} versions) and {len(targets.others)} others")
    if targets.vendor != vendor:
        raise BenchError(f"the server's database is {targets.vendor}, not {vendor}")

    now = time.time()
    moments = sorted_moments(args.executions, now - DAYS * 86_400, now - 1, args.seed)
    plan = IngestPlan(
        port, token, args.batch, args.clients, args.seed, RowMaker(targets, secrets.token_hex(4)), moments
    )

    log_path = work_dir / "server.log"
    say(f"bench: starting the server on port {port} (log: {log_path})")
    started = time.monotonic()
    with running_server(env, port, log_path) as server:
        say(f"bench: web server, worker and beat up in {time.monotonic() - started:.1f} s")
        workers = gunicorn_worker_pids(server)
        if len(workers) != gunicorn_workers(env):
            raise BenchError(f"found {len(workers)} gunicorn workers under honcho, not {gunicorn_workers(env)}")
        ingest_memory = RssSampler(workers)
        api = ingest(plan, server, ingest_memory)
        say(f"bench: API: {api.rows:,} rows in {api.seconds:.1f} s = {api.rate:,.0f} rows/s{_others(api.others)}")
        meter = OthersMeter(server.groups)
        # The worker folds batches into the rollups behind the API; the queries are timed once it has caught up
        # (until then they read the pending rows raw), and the direct inserts do not compete with it.
        found = last_json_line(
            run_step([PYTHON, "bench/analytics_db.py", "drain"], env, "bench/analytics_db.py drain"),
            "analytics_db.py drain",
        )
        lag = float(found["seconds"])
        say(f"bench: worker: every batch rolled up {lag:.1f} s after the last post")

        directs = {}
        for into, where in (("live", "the executions table itself"), ("copy", "an empty copy of the table")):
            say(f"bench: direct: inserting {args.direct_rows:,} rows with the driver into {where} ...")
            direct_args = [
                PYTHON, "bench/analytics_db.py", "direct", "--targets", str(work_dir / "targets.json"),
                "--rows", str(args.direct_rows), "--batch", str(args.batch), "--seed", str(args.seed + 1),
                "--into", into,
            ]  # fmt: skip
            before = meter.sample()
            found = last_json_line(run_step(direct_args, env, "bench/analytics_db.py direct"), "analytics_db.py direct")
            directs[into] = Ingested(found["rows"], found["seconds"], meter.cores_between(before, meter.sample()))
            rate = f"{directs[into].rows:,} rows in {directs[into].seconds:.1f} s = {directs[into].rate:,.0f} rows/s"
            say(f"bench: direct ({into}): {rate}{_others(directs[into].others)}")
        direct, direct_copy = directs["live"], directs["copy"]

        # A vacuum, planner statistics and a checkpoint, as autovacuum and time would give them: a quiet database.
        run_step([PYTHON, "bench/analytics_db.py", "settle"], env, "bench/analytics_db.py settle")
        idle_memory = RssSampler(workers)
        idle_memory.sample()
        end = datetime.now(UTC).replace(microsecond=0)
        start = end - timedelta(days=DAYS)
        metrics_path = f"{METRICS_PATH}?versionId={targets.busiest_version}"
        analytics_path = (
            f"{ANALYTICS_PATH}?templateId={targets.busy_template}&startDate={_iso(start)}&endDate={_iso(end)}"
        )
        say(f"bench: queries: {WARMUP_CALLS} warm-up calls, then {args.calls} timed sequential calls each")
        before = meter.sample()
        with RssSampler(workers) as query_memory:
            metrics = time_calls(port, metrics_path, token, args.calls)
            analytics = time_calls(port, analytics_path, token, args.calls)
        say(f"bench: raw SQL baselines (median of {RAW_RUNS} runs each) ...")
        metrics_raw = raw_query(env, "version", targets.busiest_version, None, None)
        analytics_raw = raw_query(env, "template", targets.busy_template, _iso(start), _iso(end))
        query_others = meter.cores_between(before, meter.sample())
        say(f"bench: queries done{_others(query_others)}")
        before = meter.sample()
        pages = time_dashboard(port, targets, password, args.page_calls)
        page_others = meter.cores_between(before, meter.sample())
        say(f"bench: dashboard pages done{_others(page_others)}")
        if set(gunicorn_worker_pids(server)) != set(workers):
            say("bench: WARNING: the gunicorn workers changed during the run (restarted?): memory figures are partial")

    performance = analytics.answer.get("averagePerformance", {})
    disagreements = _agree(
        "metrics",
        metrics.answer,
        metrics_raw,
        "totalExecutions",
        metrics.answer.get("averageResponseTime"),
        metrics.answer.get("p95ResponseTime"),
    ) + _agree(
        "analytics",
        analytics.answer,
        analytics_raw,
        "totalExecutions",
        performance.get("averageResponseTime"),
        performance.get("p95ResponseTime"),
    )
    return Outcome(
        vendor=vendor,
        workers=gunicorn_workers(env),
        api=api,
        direct=direct,
        direct_copy=direct_copy,
        metrics=metrics,
        analytics=analytics,
        metrics_raw=metrics_raw,
        analytics_raw=analytics_raw,
        ingest_memory=ingest_memory,
        idle_memory=idle_memory,
        query_memory=query_memory,
        disagreements=disagreements,
        query_others=query_others,
        rollup_lag=lag,
        pages=pages,
        page_others=page_others,
    )


def _others(cores: float) -> str:
    return f" (other processes used {cores:.2f} cores meanwhile)" if cores > BUSY_WARNING_CORES else ""


VENDOR_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def print_table(outcome: Outcome, args: argparse.Namespace) -> None:
    """The figures of one database."""
    name = VENDOR_NAMES[outcome.vendor]
    say()
    say(
        f"analytics benchmark: {name}, gunicorn ({outcome.workers} sync workers), {args.executions:,} executions "
        f"over {DAYS} days, {args.clients} clients, batches of {args.batch}"
    )
    say(f"{'ingestion':<46} {'rows/s':>9}")
    say(
        f"{'  API: POST ' + BATCH_PATH:<46} {outcome.api.rate:>9,.0f}   "
        f"{outcome.api.rows:,} rows in {outcome.api.seconds:.1f} s"
    )
    say(
        f"{'  direct: executemany into the same table':<46} {outcome.direct.rate:>9,.0f}   "
        f"{outcome.direct.rows:,} rows in {outcome.direct.seconds:.1f} s"
    )
    say(f"{'  API / direct':<46} {outcome.share:>9.0%}")
    say(
        f"{'  direct: executemany into an empty copy':<46} {outcome.direct_copy.rate:>9,.0f}   "
        f"{outcome.direct_copy.rows:,} rows in {outcome.direct_copy.seconds:.1f} s"
    )
    say(f"{'  API / direct into the empty copy':<46} {outcome.api.rate / outcome.direct_copy.rate:>9.0%}")
    say(
        f"{'  end to end: posted and rolled up':<46} {outcome.end_to_end_rate:>9,.0f}   "
        f"the worker caught up {outcome.rollup_lag:.1f} s after the last post"
    )
    heading = f"queries ({args.calls} sequential calls)"
    say(f"{heading:<46} {'p50 ms':>9} {'p95 ms':>8} {'raw SQL ms':>11} {'raw/p50':>8}")
    for label, timed, raw in (
        ("  metrics: busiest version, all time", outcome.metrics, outcome.metrics_raw),
        (f"  analytics: busy template, {DAYS} days", outcome.analytics, outcome.analytics_raw),
    ):
        speedup = raw.median_ms / timed.p50
        say(
            f"{label:<46} {timed.p50:>9.1f} {timed.p95:>8.1f} {raw.median_ms:>11.1f} {speedup:>7.1f}x"
            f"   ({raw.count:,} rows)"
        )
    say(f"{'server memory: gunicorn workers, RSS':<46} {'max MB':>9} {'sum MB':>8}")
    for label, sampler in (
        ("  peak while ingesting", outcome.ingest_memory),
        ("  before the queries (idle)", outcome.idle_memory),
        ("  peak while answering the queries", outcome.query_memory),
    ):
        say(f"{label:<46} {sampler.peak_worker_mb:>9.1f} {sampler.peak_sum_mb:>8.1f}")
    for line in page_rows(outcome.pages):
        say(line)
    disturbed = max(
        outcome.api.others, outcome.direct.others, outcome.direct_copy.others, outcome.query_others, outcome.page_others
    )
    if disturbed > BUSY_WARNING_CORES:
        say(
            f"WARNING: other processes used up to {disturbed:.2f} cores meanwhile: these figures are lower and "
            "noisier than this machine can do; run again when it is quiet"
        )
    if outcome.disagreements:
        say("check: the API and the raw rows DISAGREE: " + "; ".join(outcome.disagreements))
    else:
        say("check: the API's count, average and p95 agree with the raw rows (p95 and average within 1%)")
    for goal, met in outcome.goals():
        say(f"goal: {goal}: {'met' if met else 'NOT met'}")


def main() -> int:
    """Parse the options and run the benchmark on each database; non-zero exit on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--executions", type=int, default=1_000_000, help="executions posted (default 1,000,000)")
    parser.add_argument("--batch", type=int, default=200, help="executions per batch (default 200)")
    parser.add_argument("--clients", type=int, default=4, help="client processes posting at once (default 4)")
    parser.add_argument("--direct-rows", type=int, default=200_000, help="rows inserted directly (default 200,000)")
    parser.add_argument("--calls", type=int, default=30, help="timed calls of each query (default 30)")
    parser.add_argument("--page-calls", type=int, default=30, help="timed loads of each dashboard page (default 30)")
    parser.add_argument("--seed", type=int, default=20_250_501, help="random seed of the generated rows")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, logs)")
    args = parser.parse_args()
    if min(args.executions, args.clients, args.direct_rows, args.calls, args.page_calls) < 1:
        parser.error("--executions, --clients, --direct-rows, --calls and --page-calls must be >= 1")
    if not 1 <= args.batch <= 1000:
        parser.error("--batch must be from 1 to 1000 (the API's limit)")
    if not honcho_installed():
        return 2

    vendors = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    outcomes: list[Outcome] = []
    skipped: list[str] = []

    def run_each(work_dir: Path) -> None:
        for vendor in vendors:
            say(f"bench: === {VENDOR_NAMES[vendor]} ===")
            vendor_dir = work_dir / vendor
            vendor_dir.mkdir()
            if vendor == "sqlite":
                outcomes.append(run_database(vendor, args, vendor_dir, None))
            else:
                bin_dir = ensure_postgresql()
                if bin_dir is None:
                    skipped.append(vendor)
                    continue
                with postgresql_cluster(bin_dir) as database_url:
                    outcomes.append(run_database(vendor, args, vendor_dir, database_url))
            print_table(outcomes[-1], args)

    stopped = "the server and the PostgreSQL cluster, if started, were stopped"
    code = run_in_work_dir("lifecycle-bench-analytics-", args.keep, stopped, run_each)
    if code:
        return code
    say()
    say("analytics benchmark summary")
    for outcome in outcomes:
        for goal, met in outcome.goals():
            say(f"  {VENDOR_NAMES[outcome.vendor]:<11} {goal}: {'met' if met else 'NOT met'}")
        if outcome.disagreements:
            say(f"  {VENDOR_NAMES[outcome.vendor]:<11} the API's numbers DISAGREE with the raw rows (see above)")
    for vendor in skipped:
        say(f"  {VENDOR_NAMES[vendor]:<11} SKIPPED (no PostgreSQL binaries; see above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
