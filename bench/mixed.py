"""`make bench`, mixed load: the production topology on this machine under everything at once, for a minute.

PostgreSQL (a throwaway cluster, stock settings), Redis (a throwaway redis-server), gunicorn with several
workers, a Celery worker and beat, started as `make run` starts them, and nginx in front, the proxy that
buffers requests production needs before gunicorn's sync workers (README; `--no-proxy`: clients straight
to gunicorn, whose workers then wait through each paced connection's delay). First the render ceiling of this
topology is measured (wrk, as fast as it can, as the render benchmark does); then, for `--duration`
seconds, at once:

- integrations render at `--load` (80%) of that ceiling: 70% of the requests without a subject, 30% with a
  new subject each (an A/B test runs), paced by wrk's delay();
- integrations report executions in batches of 100, twice a second;
- an analyst reads the dashboard (overview, the template's page, the A/B test's page) and the API's results
  (metrics, analytics, A/B results), one every half second, in turn;
- beat has the worker roll up the executions every 2 s and evaluate three rollback triggers every 5 s.

It prints throughput, p50/p99 per endpoint and errors. The goal: zero errors, and render's p99 under 25 ms.
Standard library only, as the other drivers (wrk does the render load).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.analytics import ensure_postgresql, postgresql_cluster
from bench.common import (
    PYTHON,
    BenchError,
    apt_install,
    bench_env,
    free_port,
    gunicorn_workers,
    honcho_installed,
    http_get,
    http_post_json,
    percentile,
    run_in_work_dir,
    run_step,
    running_server,
    say,
)
from bench.pages import set_password, sign_in
from bench.render import Load, ensure_wrk, prepare_database, write_lua

ENVIRONMENT = "development"
GOAL_RENDER_P99_MS = 25.0
BATCH_SIZE = 100
BATCHES_PER_SECOND = 2.0
WRK_THREADS = 2
RENDER_CONNECTIONS = 12
SUBJECT_CONNECTIONS = 4
CALIBRATION_ROUNDS = 2
ANALYST_INTERVAL = 0.5  # seconds between an analyst's reads
CALIBRATION_SECONDS = 5


@dataclass
class Timings:
    """Latencies and errors of one endpoint, recorded by the Python load threads."""

    times_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, elapsed_ms: float, problem: str | None) -> None:
        with self.lock:
            self.times_ms.append(elapsed_ms)
            if problem:
                self.errors.append(problem)


@dataclass(frozen=True)
class Row:
    endpoint: str
    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def _paced_lua(path: Path, render_path: str, body: dict[str, Any], token: str, delay_ms: float, subjects: bool) -> Path:
    """A wrk script: render (with a new subject per request, if `subjects`), each connection waiting
    `delay_ms` between its requests, so that the rate is what the mix asks for, not as fast as possible."""
    payload = json.dumps(body)
    head = f'{payload[:-1]}, "subjectId": "mixed-subject-' if subjects else payload
    tail = ' .. counter .. [["}]]' if subjects else ""
    request = f'  return wrk.format("POST", "{render_path}", headers, head{tail})\n'
    path.write_text(
        "local counter = 0\n"
        f"local head = [==[{head}]==]\n"
        f'local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Token {token}"}}\n'
        "request = function()\n"
        "  counter = counter + 1\n"
        f"{request}"
        "end\n"
        f"delay = function() return {max(delay_ms, 0.0):.3f} end\n"
    )
    return path


@dataclass(frozen=True)
class WrkRun:
    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    output: str


def _parse_wrk_counting_errors(output: str) -> WrkRun:
    """wrk's report; errors counted (socket errors and non-2xx), not raised: the mix reports them."""
    import re

    def number(pattern: str) -> float:
        found = re.search(pattern, output, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency(percent: str) -> float:
        found = re.search(rf"^\s*{percent}(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        return float(found.group(1)) * units[found.group(2)] if found else float("nan")

    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = sum(int(value) for value in socket.groups()) if socket else 0
    errors += int(number(r"^\s*Non-2xx or 3xx responses:\s*(\d+)"))
    return WrkRun(
        requests=int(number(r"^\s*(\d+) requests in ")),
        per_second=number(r"^Requests/sec:\s+([\d.]+)"),
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        errors=errors,
        output=output,
    )


def _request(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _timed(timings: Timings, call: Callable[[], tuple[int, bytes]], expected: int = 200) -> None:
    started = time.perf_counter()
    try:
        status, raw = call()
        problem = None if status == expected else f"{status}: {raw[:200]!r}"
    except OSError as error:
        problem = f"{type(error).__name__}: {error}"
    timings.record((time.perf_counter() - started) * 1000, problem)


@contextmanager
def redis_server(work_dir: Path) -> Iterator[str]:
    """A throwaway redis-server (installed with apt-get when missing and root), as a REDIS_URL."""
    if not shutil.which("redis-server"):
        if os.geteuid() != 0:
            raise BenchError("redis-server is not installed (e.g. sudo apt-get install -y redis-server)")
        apt_install("redis-server")
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=work_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket_to(port) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError("redis-server did not answer within 10 s")
            time.sleep(0.1)
        say(f"bench: Redis up on 127.0.0.1:{port}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


_NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    upstream web {{ server 127.0.0.1:{upstream}; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://web;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


@contextmanager
def buffering_proxy(work_dir: Path, upstream: int) -> Iterator[int]:
    """nginx in front of gunicorn, as production has a proxy that buffers each request (README, "Production"):
    it keeps clients' connections (keep-alive) and hands gunicorn a whole request at once. Its port."""
    if not shutil.which("nginx"):
        if os.geteuid() != 0:
            raise BenchError("nginx is not installed (e.g. sudo apt-get install -y nginx), or use --no-proxy")
        say("bench: nginx is not installed; installing Debian's nginx package with apt-get")
        apt_install("nginx")
    folder = work_dir / "nginx"
    folder.mkdir()
    port = free_port()
    conf = folder / "nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(_NGINX_CONF.format(user=user, folder=folder, upstream=upstream, port=port))
    process = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if http_get(f"http://127.0.0.1:{port}/api/health", timeout=2.0)[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log = (folder / "nginx-error.log").read_text() if (folder / "nginx-error.log").exists() else ""
                raise BenchError(f"nginx did not pass /api/health on within 10 s: {log[-500:]}")
            time.sleep(0.1)
        say(f"bench: nginx (buffering proxy) on 127.0.0.1:{port} in front of gunicorn")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def socket_to(port: int) -> Iterator[Any]:
    import socket

    sock = socket.create_connection(("127.0.0.1", port), timeout=1)
    try:
        yield sock
    finally:
        sock.close()


_RULES = (
    {"metric": "error_rate", "operator": "gt", "threshold": 0.5},
    {"metric": "p95_response_time", "operator": "gt", "threshold": 60_000},
    {"metric": "success_rate", "operator": "lt", "threshold": 10},
)


def _make_rules(base: str, template_id: str, token: str) -> None:
    """Three rollback triggers on the rendered template (alerts only: serving must not change mid-run)."""
    for rule in _RULES:
        body = {**rule, "templateId": template_id, "environment": ENVIRONMENT, "action": "alert", "minExecutions": 1}
        status, raw = http_post_json(base + "/api/rollback/triggers", body, token)
        if status != 201:
            raise BenchError(f"creating a rollback trigger returned {status}: {raw[:300]!r}")


def _count_evaluations(env: dict[str, str]) -> int:
    out = run_step(
        [
            PYTHON,
            "manage.py",
            "shell",
            "-c",
            "from lifecycle.releases.rules.models import TriggerEvaluation; print(TriggerEvaluation.objects.count())",
        ],
        env,
        "count rule evaluations",
    )
    return int(out.strip().splitlines()[-1])


def measure(args: argparse.Namespace, wrk: str, work_dir: Path) -> None:
    bin_dir = ensure_postgresql()
    if bin_dir is None:
        raise BenchError("the mixed load runs on PostgreSQL, which is not installed")
    with postgresql_cluster(bin_dir) as database_url, redis_server(work_dir) as redis_url:
        port = free_port()
        env = bench_env(work_dir / "data", port, database_url=database_url)
        env.update(
            REDIS_URL=redis_url,
            WEB_CONCURRENCY=str(args.web_workers),
            ROLLBACK_EVALUATION_SECONDS="5",
            ANALYTICS_ROLLUP_SECONDS="2",
            LOG_FORMAT="json",  # as in production (docker-compose.yml): one JSON access line per request
            # docker-compose.yml's worker class by default; WEB_WORKER_CLASS=gthread measures the other
            WEB_WORKER_CLASS=os.environ.get("WEB_WORKER_CLASS", "sync"),
            WEB_THREADS=os.environ.get("WEB_THREADS", "4"),
        )
        token, target = prepare_database(env, args.templates, args.versions)
        template_id, test_id = target["templateId"], target["abTestId"]
        run_step([PYTHON, "manage.py", "create_api_token", "analyst", "--groups", "analyst"], env, "the analyst")
        analyst_password = set_password(env, "analyst")
        analyst_token = run_step(
            [PYTHON, "manage.py", "create_api_token", "analyst", "--name", "results"], env, "the analyst's token"
        ).split()[-1]
        log_path = work_dir / "server.log"
        say(f"bench: starting the topology on port {port} ({args.web_workers} web workers; log: {log_path})")
        with running_server(env, port, log_path) as server, ExitStack() as front:
            # Clients reach gunicorn through the buffering proxy production puts in front (--no-proxy: directly).
            port = front.enter_context(buffering_proxy(work_dir, port)) if args.proxy else port
            base = f"http://127.0.0.1:{port}" if args.proxy else server.base
            render_path = f"/api/templates/{template_id}/render"
            body = {"environment": ENVIRONMENT, "variables": target["variables"]}
            status, raw = http_post_json(base + render_path, body, token)
            if status != 200:
                raise BenchError(f"render returned {status}: {raw[:300]!r}")
            version_id = json.loads(raw)["versionId"]
            _make_rules(base, template_id, token)
            cookie = sign_in(port, "analyst", analyst_password)

            load = Load(wrk=wrk, threads=WRK_THREADS, connections=RENDER_CONNECTIONS + SUBJECT_CONNECTIONS)
            script = write_lua(work_dir / "render.lua", body, token)
            say(f"bench: warming up, then the render ceiling of this topology ({args.ceiling_seconds} s, wrk)")
            load.run(base + render_path, 3, script)
            ceiling = load.run(base + render_path, args.ceiling_seconds, script)
            target_rate = args.load * ceiling.requests_per_sec
            say(
                f"bench: ceiling {ceiling.requests_per_sec:,.0f} req/s (p99 {ceiling.p99_ms:.1f} ms); "
                f"mixed load renders at {args.load:.0%} of it: {target_rate:,.0f} req/s"
            )
            rows = run_mix(args, wrk, work_dir, port, base, render_path, body, token, analyst_token, cookie,
                           version_id, template_id, test_id, target_rate, env)  # fmt: skip
        workers = gunicorn_workers(env)
    total_errors = sum(row.errors for row in rows)
    render_rows = [row for row in rows if row.endpoint.startswith("render")]
    worst_p99 = max(row.p99_ms for row in render_rows)
    render_rate = sum(row.per_second for row in render_rows)
    say()
    say(
        f"mixed load: PostgreSQL + Redis, gunicorn ({workers} workers), Celery worker and beat, {args.duration} s; "
        f"render ceiling {ceiling.requests_per_sec:,.0f} req/s, driven at {args.load:.0%}"
    )
    say(f"{'endpoint':<34} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for row in rows:
        say(
            f"{row.endpoint:<34} {row.requests:>9,} {row.per_second:>8,.1f} {row.p50_ms:>8.1f} "
            f"{row.p99_ms:>8.1f} {row.errors:>7}"
        )
    say(f"render achieved {render_rate:,.0f} req/s ({render_rate / ceiling.requests_per_sec:.0%} of the ceiling)")
    # The load must have been there: a paced wrk that fell short would make any p99 look good.
    reached = render_rate >= 0.95 * target_rate
    met = total_errors == 0 and worst_p99 < GOAL_RENDER_P99_MS and reached
    say(
        f"goal: zero errors and render p99 under {GOAL_RENDER_P99_MS:.0f} ms at {args.load:.0%} of the ceiling: "
        + (
            "met"
            if met
            else f"NOT met ({total_errors} errors, render p99 {worst_p99:.1f} ms, "
            f"{render_rate / target_rate:.0%} of the intended render rate reached)"
        )
    )


def _run_wrks(
    wrk: str, url: str, seconds: int, mixes: list[tuple[Path, int, float, bool]], scripts: list[Path]
) -> list[WrkRun]:
    """One wrk per mix (its connections, its script), all at once; their reports."""
    processes = [
        subprocess.Popen(
            [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
            stdout=subprocess.PIPE,
            text=True,
        )
        for (_, connections, _, _), script in zip(mixes, scripts, strict=True)
    ]
    return [_parse_wrk_counting_errors(process.communicate(timeout=seconds + 60)[0]) for process in processes]


def run_mix(
    args: argparse.Namespace,
    wrk: str,
    work_dir: Path,
    port: int,
    base: str,
    render_path: str,
    body: dict[str, Any],
    token: str,
    analyst_token: str,
    cookie: str,
    version_id: str,
    template_id: str,
    test_id: str,
    target_rate: float,
    env: dict[str, str],
) -> list[Row]:
    """Everything at once for args.duration seconds: the table's rows."""
    # Each wrk connection waits between its requests so that its share of the rate is met: a connection's
    # cycle is the answer's time plus the wait, so the wait is calibrated on short runs of both at once.
    plain_rate, subject_rate = 0.7 * target_rate, 0.3 * target_rate
    mixes = [
        (work_dir / "paced.lua", RENDER_CONNECTIONS, plain_rate, False),
        (work_dir / "paced-subject.lua", SUBJECT_CONNECTIONS, subject_rate, True),
    ]
    delays = [1000 * connections / rate for _, connections, rate, _ in mixes]
    for _ in range(CALIBRATION_ROUNDS):
        scripts = [
            _paced_lua(path, render_path, body, token, delay, subjects)
            for (path, _, _, subjects), delay in zip(mixes, delays, strict=True)
        ]
        runs = _run_wrks(wrk, base + render_path, CALIBRATION_SECONDS, mixes, scripts)
        for index, ((_, connections, rate, _), run) in enumerate(zip(mixes, runs, strict=True)):
            cycle_ms = 1000 * connections / max(run.per_second, 1.0)
            answer_ms = max(cycle_ms - delays[index], 0.0)
            delays[index] = max(1000 * connections / rate - answer_ms, 0.0)
    plain_lua, subject_lua = (
        _paced_lua(path, render_path, body, token, delay, subjects)
        for (path, _, _, subjects), delay in zip(mixes, delays, strict=True)
    )
    evaluations_before = _count_evaluations(env)
    stop = threading.Event()
    ingestion = Timings()
    pages = {
        "dashboard overview": "/dashboard/?period=7d",
        "dashboard template page": f"/dashboard/templates/{template_id}/",
        "dashboard A/B test page": f"/dashboard/abtests/{test_id}/",
    }
    page_timings = {label: Timings() for label in pages}
    api_reads = {
        "GET metrics": f"/api/performance/metrics?versionId={version_id}",
        "GET analytics": f"/api/performance/analytics?templateId={template_id}",
        "GET A/B results": f"/api/abtests/{test_id}/results",
    }
    api_timings = {label: Timings() for label in api_reads}

    def report_batches() -> None:
        number = 0
        interval = 1 / BATCHES_PER_SECOND
        next_at = time.monotonic()
        while not stop.is_set():
            rows = []
            for _ in range(BATCH_SIZE):
                number += 1
                row: dict[str, Any] = {
                    "templateVersionId": version_id,
                    "environment": ENVIRONMENT,
                    "status": "success" if random.random() < 0.97 else "error",
                    "responseTime": random.lognormvariate(6.5, 0.4),
                    "tokenUsage": {"inputTokens": 120, "outputTokens": 300, "totalTokens": 420, "cost": 0.0021},
                    "metadata": {"requestId": f"mixed-{number}"},
                }
                rows.append(row)
            payload = json.dumps({"executions": rows}).encode()
            headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
            _timed(ingestion, partial(_request, port, "POST", "/api/executions/batch", headers, payload), 201)
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))

    def analyst() -> None:
        # An analyst at work: a page or a result every ANALYST_INTERVAL seconds, in turn (not as fast as
        # the server answers, which would be a load test of the dashboard, not a day with analysts in it).
        reads = [(page_timings[label], path, {"Cookie": cookie}) for label, path in pages.items()]
        reads += [
            (api_timings[label], path, {"Authorization": f"Token {analyst_token}"}) for label, path in api_reads.items()
        ]
        number = 0
        while not stop.wait(ANALYST_INTERVAL):
            timings, path, headers = reads[number % len(reads)]
            _timed(timings, partial(_request, port, "GET", path, headers))
            number += 1

    threads = [threading.Thread(target=report_batches), threading.Thread(target=analyst)]
    say(f"bench: mixed load for {args.duration} s ...")
    started = time.monotonic()
    for thread in threads:
        thread.start()
    runs = _run_wrks(wrk, base + render_path, args.duration, mixes, [plain_lua, subject_lua])
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    elapsed = time.monotonic() - started
    evaluations = _count_evaluations(env) - evaluations_before

    rows = []
    for label, run in zip(("render", "render + A/B subject"), runs, strict=True):
        rows.append(Row(label, run.requests, run.per_second, run.p50_ms, run.p99_ms, run.errors))

    def row_of(label: str, timings: Timings) -> Row:
        times = timings.times_ms or [float("nan")]
        return Row(
            label,
            len(timings.times_ms),
            len(timings.times_ms) / elapsed,
            percentile(times, 0.5),
            percentile(times, 0.99),
            len(timings.errors),
        )

    rows.append(row_of(f"POST executions/batch ({BATCH_SIZE})", ingestion))
    rows.extend(row_of(label, timings) for label, timings in page_timings.items())
    rows.extend(row_of(label, timings) for label, timings in api_timings.items())
    say(f"bench: {evaluations} rule evaluations recorded during the run (3 rules, ticks every 5 s)")
    for timings in (ingestion, *page_timings.values(), *api_timings.values()):
        for problem in timings.errors[:3]:
            say(f"bench: error: {problem}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds of mixed load (default 60)")
    parser.add_argument("--ceiling-seconds", type=int, default=10, help="seconds of the ceiling run (default 10)")
    parser.add_argument("--load", type=float, default=0.8, help="share of the ceiling to render at (default 0.8)")
    parser.add_argument(
        "--web-workers",
        type=int,
        default=max(2, os.cpu_count() or 1),
        help="gunicorn workers (default: cores, 2 or more)",
    )
    parser.add_argument("--templates", type=int, default=200, help="templates seeded (default 200)")
    parser.add_argument("--versions", type=int, default=3, help="versions per template (default 3)")
    parser.add_argument("--quick", action="store_true", help="20 s of load, 5 s ceiling: a try, not a figure")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, log)")
    parser.add_argument(
        "--no-proxy",
        dest="proxy",
        action="store_false",
        help="clients straight to gunicorn, without nginx (buffering, keep-alive) in front",
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.ceiling_seconds = 20, 5
    if not honcho_installed():
        return 2
    wrk = ensure_wrk()
    return run_in_work_dir(
        "lifecycle-bench-mixed-", args.keep, "the mixed load", lambda work_dir: measure(args, wrk, work_dir)
    )


if __name__ == "__main__":
    sys.exit(main())
