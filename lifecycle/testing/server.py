"""The real server, started as `make run` starts it (gunicorn with several worker processes, a Celery
worker and beat) on a database of its own, for the tests marked `server`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifecycle.testing.ports import free_port
from lifecycle.testing.redis import own_redis

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
WORKERS = 3


@dataclass
class Server:
    base: str
    env: dict[str, str]
    tokens: dict[str, str]
    log: Path | None = None
    # The Host header to send (a production profile serves only its DJANGO_ALLOWED_HOSTS); default: the address.
    host: str | None = None
    # The processes to start, in honcho's Procfile form (web first: it gets PORT); `make run`'s by default.
    procfile: Path = ROOT / "Procfile"
    # Each process on its own (not under honcho, which stops them all when one exits): for the tests that
    # kill one of them and start it again (kill, start_process).
    separately: bool = False
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.host:
            request.add_header("Host", self.host)
        if token:
            request.add_header("Authorization", f"Token {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                payload = response.read()
                return response.status, json.loads(payload) if payload else None, dict(response.headers)
        except urllib.error.HTTPError as error:
            payload = error.read()
            return error.code, json.loads(payload) if payload else None, dict(error.headers)

    def approve(self, version_id: str, environment: str = "production", submitter: str = "author") -> None:
        """The version submitted (with the `submitter` token) and approved through its four stages."""
        submitted = {"versionId": version_id, "environment": environment}
        status, body, _ = self.call("POST", "/api/approval/submit", submitted, token=self.tokens[submitter])
        assert status == 201, body
        for index, role in enumerate(("technical", "qa", "security", "business")):
            decision = {**submitted, "data": {"stageIndex": index}}
            status, body, _ = self.call("POST", "/api/approval/approve", decision, token=self.tokens[role])
            assert status == 200, body

    def release(self, version_id: str, environment: str = "production", submitter: str = "author") -> None:
        """Approved (approve) and deployed by the deployer."""
        self.approve(version_id, environment, submitter)
        deployed = {"environment": environment}
        status, body, _ = self.call(
            "PUT", f"/api/versions/{version_id}/deploy", deployed, token=self.tokens["deployer"]
        )
        assert status == 200, body

    def person(self, username: str, *roles: str) -> str:
        """A user with these roles, made the README's way (create_api_token), who can also sign in to the
        admin: their password."""
        password = f"{username}-{uuid.uuid4().hex[:12]}"
        self.manage("create_api_token", username, "--groups", ",".join(roles))
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import User; "
            f"user = User.objects.get(username={username!r}); user.set_password({password!r}); user.save()",
        )
        return password

    def commands(self) -> dict[str, str]:
        """The Procfile's processes: name -> shell command line."""
        lines = [line.split(":", 1) for line in self.procfile.read_text().splitlines() if ":" in line]
        return {name.strip(): command.strip() for name, command in lines if not name.startswith("#")}

    def start_process(self, name: str) -> None:
        """Start one of the Procfile's processes on its own (separately), in its own process group."""
        assert self.log is not None
        with self.log.open("a") as log:
            self._processes[name] = subprocess.Popen(
                ["sh", "-c", f"exec {self.commands()[name]}"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def pid_of(self, name: str) -> int:
        """The process id of a process started separately (gunicorn's master, Celery's main process)."""
        return self._processes[name].pid

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill a process started separately, and everything it started (its workers), at once."""
        process = self._processes.pop(name)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def wait_until_healthy(self, deadline_seconds: float = 60) -> None:
        deadline = time.monotonic() + deadline_seconds
        while True:
            try:
                if self.call("GET", "/api/health")[0] == 200:
                    return
            except OSError:
                pass
            ended = (self._process is not None and self._process.poll() is not None) or any(
                process.poll() is not None for process in self._processes.values()
            )
            if time.monotonic() > deadline or ended:
                log = self.log.read_text()[-3000:] if self.log else ""
                self.stop()
                raise RuntimeError(f"server did not start:\n{log}")
            time.sleep(0.3)

    def start(self) -> None:
        """Start the processes (web, worker, beat) as `make run` does, and wait until /api/health answers."""
        assert self.log is not None
        if self.separately:
            for name in self.commands():
                self.start_process(name)
            self.wait_until_healthy()
            return
        log = self.log.open("a")
        self._process = subprocess.Popen(
            [
                str(VENV_BIN / "honcho"),
                "--procfile",
                str(self.procfile),
                "--app-root",
                str(ROOT),
                "start",
                "--port",
                self.env["PORT"],
                "--no-colour",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()  # the child has its own copy
        self.wait_until_healthy()

    def stop(self) -> None:
        """Stop every process (the database stays): as an outage, or at the end."""
        for name in list(self._processes):
            self.kill(name, signal.SIGTERM)
        process = self._process
        if process is None:
            return
        self._process = None
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout


def fresh_database(tmp: Path) -> tuple[str, Any]:
    """A database of its own for the server: SQLite in tmp, or a new one on DATABASE_URL's PostgreSQL."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{tmp / 'e2e.sqlite3'}", lambda: None
    import psycopg

    name = f"lifecycle_e2e_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url.rsplit("/", 1)[0] + f"/{name}", drop


@contextmanager
def running_server(tmp: Path, *, separately: bool = False, env: dict[str, str] | None = None) -> Iterator[Server]:
    """The stack on a free port, with tokens for an author (and deployer), a reader, one reviewer per
    approval role and a deployer; stopped (and its database dropped) on leaving. `env` adds to or replaces
    its environment; `separately`: see Server.separately."""
    extra_env = env or {}
    with ExitStack() as stack:
        if os.environ.get("REDIS_URL") and "REDIS_URL" not in extra_env:
            # CI's second run: on Redis, as in production, but a Redis of the server's own (lifecycle.testing.redis).
            extra_env = {**extra_env, "REDIS_URL": stack.enter_context(own_redis(tmp / "redis")).url}
        yield stack.enter_context(_running_server(tmp, separately=separately, extra_env=extra_env))


@contextmanager
def _running_server(tmp: Path, *, separately: bool, extra_env: dict[str, str]) -> Iterator[Server]:
    database_url, drop_database = fresh_database(tmp)
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lifecycle.settings",
        "LIFECYCLE_DATA_DIR": str(tmp / "var"),
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "WEB_CONCURRENCY": str(WORKERS),
        "HEARTBEAT_SECONDS": "1",
        # Reminders due after 3.6 s, checked every 3 s: the worker's emails show in the server's log.
        "APPROVAL_REMINDER_AFTER_HOURS": "0.001",
        "APPROVAL_REMINDER_CHECK_MINUTES": "0.05",
        # Rollback triggers evaluated every 2 s, so that the automatic rollback's test takes seconds.
        "ROLLBACK_EVALUATION_SECONDS": "2",
        # The tests' webhook receivers listen on this machine.
        "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "1",
        # Logs and metrics as in production: JSON lines, /metrics behind a token, the worker's own metrics port.
        "LOG_FORMAT": "json",
        "METRICS_TOKEN": uuid.uuid4().hex,
        "WORKER_METRICS_PORT": str(free_port()),
        # Rate limits count every request, as in production, but stop none of the tests' bursts (a fault test
        # sends 180 batches as fast as the server answers; bench_env does the same). A test may set its own.
        "THROTTLE_RATE_RENDER": "1000000/s",
        "THROTTLE_RATE_INGESTION": "1000000/s",
        "THROTTLE_RATE_USER": "1000000/s",
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        **extra_env,
    }
    # With REDIS_URL the stack runs on Redis, as in production; else on the broker folder.
    server = Server(base=f"http://127.0.0.1:{port}", env=env, tokens={}, separately=separately)
    server.manage("migrate", "--noinput")
    server.manage("seed")
    server.tokens["author"] = server.manage("create_api_token", "author", "--groups", "author,deployer").split()[-1]
    server.tokens["reader"] = server.manage("create_api_token", "reader").split()[-1]

    for role in ("technical", "qa", "security", "business"):
        server.tokens[role] = server.manage("create_api_token", f"{role}-reviewer", "--groups", role).split()[-1]
    server.tokens["deployer"] = server.manage("create_api_token", "deployer", "--groups", "deployer").split()[-1]
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        "User.objects.filter(username='qa-reviewer').update(email='qa@example.com')",
    )
    server.log = tmp / "server.log"
    server.log.write_text("")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        drop_database()
