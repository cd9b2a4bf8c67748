"""PromptClient: renders the templates it uses from memory, as the server renders them.

- The hot path (`render`) reads an immutable snapshot: no request, no lock, no I/O. Only the first use of a
  template the client has never seen asks the server (once, bounded by `timeout`).
- A background thread asks the server every `refresh_interval` seconds, in one conditional request for
  every template in use (`GET /api/templates/bundle`, 304 while nothing changed), and swaps in a new snapshot
  when something did: a deploy or a rollback is served within the interval (plus the request's time).
- While the server is unreachable or failing, renders keep the last snapshot; the failure is logged once,
  and the refresh backs off. With `cache_dir`, the last bundle is also kept on disk, so a restarted process
  serves before the server answers.
- `report` queues an execution for a background sender (reports.ReportQueue).

Threads are started lazily and again after a fork (a pre-forking web server's workers each get their own).
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import json
import logging
import os
import tempfile
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from promptrender.assignment import validate_subject_id
from promptrender.definitions import VersionDefinition
from promptrender.placeholders import parse_text
from promptrender.rendering import RenderPlan
from promptrender.serving import result_json, what_to_serve
from promptrender.variables import ValuesInvalid, parse_variables

from promptclient.reports import ReportQueue, with_request_id
from promptclient.snapshot import Snapshot, reference_key
from promptclient.transport import ServerUnavailable, Transport

logger = logging.getLogger("promptclient")

Rendered = dict[str, Any]
Fallback = str | Sequence[Mapping[str, str]]


class TemplateUnavailable(LookupError):
    """The client cannot render the template: unknown to the server, nothing active in the environment, or
    never fetched while the server was unreachable (and no fallback was given)."""

    def __init__(self, template: str, why: str) -> None:
        self.template = template
        super().__init__(f"Template {template!r}: {why}")


class PromptClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        environment: str = "production",
        templates: Iterable[str] = (),
        refresh_interval: float = 2.0,
        timeout: float = 2.0,
        max_backoff: float = 30.0,
        cache_dir: str | os.PathLike[str] | None = None,
        report_batch_size: int = 200,
        report_interval: float = 2.0,
        max_buffered_reports: int = 10_000,
    ) -> None:
        """`templates` (ids or names) are fetched at once in the background; others on their first render."""
        self.environment = environment
        self.refresh_interval = refresh_interval
        self.max_backoff = max_backoff
        self._transport = Transport(base_url, token, timeout)
        self._references: dict[str, str] = {reference_key(ref): ref for ref in templates}
        self._snapshot = Snapshot(environment, None)
        self._fetch_lock = threading.Lock()  # one bundle request at a time (refresh, or a first use)
        self._wake = threading.Event()
        self._closed = False
        self._failing = False
        self._pid = -1
        self._refresher: threading.Thread | None = None
        self._cache_file = self._cache_path(Path(cache_dir), base_url) if cache_dir is not None else None
        self._reports = ReportQueue(
            self._transport,
            batch_size=report_batch_size,
            interval=report_interval,
            capacity=max_buffered_reports,
            max_backoff=max_backoff,
        )
        self.requests = 0  # bundle requests made (refreshes and first uses)
        self._load_cache()
        self._ensure_threads()
        finalizer = weakref.finalize(self, PromptClient._close_at_exit, weakref.ref(self))
        atexit.register(finalizer)

    # --- The hot path -----------------------------------------------------------------------------------

    def render(
        self,
        template: str,
        variables: Mapping[str, Any] | None = None,
        subject_id: str | None = None,
        *,
        fallback: Fallback | None = None,
    ) -> Rendered:
        """What `POST /api/templates/{id}/render` answers for the template (an id or a name), from memory:
        rendered text (or messages), modelConfig, versionId, version, and while an A/B test runs and a
        subject is given, abTestId and variantId. ValuesInvalid when a value breaks the version's schema;
        TemplateUnavailable when there is nothing to render and no `fallback` (a text or chat messages with
        `{{placeholders}}`, rendered with the same values; its answer says `"fallback": true`)."""
        values = variables or {}
        if subject_id is not None:
            validate_subject_id(subject_id)
        if self._pid != os.getpid():
            self._ensure_threads()
        snapshot = self._snapshot
        entry = snapshot.find(template)
        if entry is None:
            snapshot = self._first_use(template)
            entry = snapshot.find(template)
            if entry is None:
                why = (
                    "no template has this id or name"
                    if snapshot.is_missing(template)
                    else "the server could not be reached and nothing is cached"
                )
                return self._fallback_or_raise(template, why, fallback, values)
        served = what_to_serve(entry.active_version_id, entry.live, subject_id)
        if served.version_id is None:
            why = f"no version is active in {self.environment}"
            return self._fallback_or_raise(template, why, fallback, values)
        plan = snapshot.plans[served.version_id]
        return result_json(plan, self.environment, plan.render(values), served.test_id, served.variant_key)

    async def arender(
        self,
        template: str,
        variables: Mapping[str, Any] | None = None,
        subject_id: str | None = None,
        *,
        fallback: Fallback | None = None,
    ) -> Rendered:
        """render() for asyncio code: from memory in the event loop; a first use's request in a thread."""
        if self._snapshot.find(template) is not None:
            return self.render(template, variables, subject_id, fallback=fallback)
        return await asyncio.to_thread(self.render, template, variables, subject_id, fallback=fallback)

    def report(self, rendered: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """Queue an execution for the server (`POST /api/executions/batch`'s fields, camelCase). Given the
        answer of render(), its templateVersionId, environment, abTestId and variantId are filled in. A
        `metadata.requestId` is generated when absent. Never blocks on the network, never raises."""
        execution: dict[str, Any] = {}
        if rendered is not None and rendered.get("versionId"):
            execution["templateVersionId"] = rendered["versionId"]
            execution["environment"] = rendered.get("environment", self.environment)
            if rendered.get("abTestId"):
                execution["abTestId"], execution["variantId"] = rendered["abTestId"], rendered["variantId"]
        execution.update(fields)
        execution.setdefault("environment", self.environment)
        if self._pid != os.getpid():
            self._ensure_threads()
        self._reports.add(with_request_id(execution))

    # --- Life cycle ----------------------------------------------------------------------------------------

    def wait_until_ready(self, timeout: float = 5.0) -> bool:
        """Whether the templates given so far are known (fetched, or from the disk cache) within `timeout`."""
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while not deadline.is_set():
                if all(self._snapshot.find(ref) or self._snapshot.is_missing(ref) for ref in self._references.values()):
                    return True
                deadline.wait(0.02)
            return False
        finally:
            timer.cancel()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait (up to `timeout`) until every queued report is sent: whether none is left."""
        done = threading.Event()
        for _ in range(max(1, int(timeout / 0.02))):
            if self._reports.pending == 0:
                return True
            done.wait(0.02)
        return self._reports.pending == 0

    def close(self, timeout: float = 5.0) -> None:
        """Stop refreshing, and send the queued reports (for up to `timeout` seconds)."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._reports.stop(timeout)
        if self._refresher is not None:
            self._refresher.join(timeout=1.0)

    def __enter__(self) -> PromptClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats(self) -> dict[str, int]:
        """Counters: bundle requests made, reports sent, pending, dropped (buffer full), rejected (invalid)."""
        reports = self._reports
        return {
            "requests": self.requests,
            "reportsSent": reports.sent,
            "reportsPending": reports.pending,
            "reportsDropped": reports.dropped,
            "reportsRejected": reports.rejected,
        }

    @staticmethod
    def _close_at_exit(ref: weakref.ref[PromptClient]) -> None:
        client = ref()
        if client is not None:
            client.close()

    # --- Background work ----------------------------------------------------------------------------------

    def _ensure_threads(self) -> None:
        """Start (or, after a fork, restart) the refresher and the report sender."""
        if self._closed:
            return
        pid = os.getpid()
        if self._pid == pid:
            return
        self._pid = pid
        self._fetch_lock = threading.Lock()  # a lock held in the parent at fork time stays held in the child
        self._wake = threading.Event()
        self._refresher = threading.Thread(target=self._refresh_loop, name="promptclient-refresh", daemon=True)
        self._refresher.start()
        self._reports.start()

    def _refresh_loop(self) -> None:
        delay = 0.0  # the first refresh at once: a client made with `templates` fetches them now
        while not self._closed:
            if delay and self._wake.wait(delay):
                self._wake.clear()
                if self._closed:
                    return
            try:
                self._refresh()
            except ServerUnavailable as error:
                if not self._failing:
                    self._failing = True
                    logger.warning("promptclient: serving what it has; cannot refresh: %s", error)
                delay = min(max(delay * 2, self.refresh_interval), self.max_backoff)
                continue
            except Exception:  # a bug must not end refreshing silently, nor reach the caller
                logger.exception("promptclient: refresh failed")
                delay = min(max(delay * 2, self.refresh_interval), self.max_backoff)
                continue
            if self._failing:
                self._failing = False
                logger.info("promptclient: refreshing again")
            delay = self.refresh_interval

    def _refresh(self) -> Snapshot:
        """Ask for every template in use (conditionally); swap in a new snapshot if something changed."""
        with self._fetch_lock:
            references = list(self._references.values())
            if not references:
                return self._snapshot
            current = self._snapshot
            self.requests += 1
            answer = self._transport.bundle(references, self.environment, current.etag)
            if answer.status == 304:
                return current
            if answer.status != 200:
                raise ServerUnavailable(f"the bundle answered {answer.status}: {answer.body}")
            snapshot = Snapshot.from_bundle(answer.body, answer.headers.get("ETag"), previous=current)
            self._snapshot = snapshot
            self._save_cache(snapshot)
            return snapshot

    def _first_use(self, template: str) -> Snapshot:
        """A template never seen: add it to those in use and ask for the bundle now (once)."""
        key = reference_key(template)
        if key not in self._references:
            self._references[key] = template
        try:
            return self._refresh()
        except ServerUnavailable as error:
            logger.warning("promptclient: cannot fetch %r: %s", template, error)
            return self._snapshot

    def _fallback_or_raise(
        self, template: str, why: str, fallback: Fallback | None, values: Mapping[str, Any]
    ) -> Rendered:
        if fallback is None:
            raise TemplateUnavailable(template, why)
        return _render_fallback(fallback, values, self.environment)

    # --- The on-disk cache ----------------------------------------------------------------------------------

    def _cache_path(self, folder: Path, base_url: str) -> Path:
        digest = hashlib.sha256(f"{base_url.rstrip('/')}|{self.environment}".encode()).hexdigest()[:16]
        return folder / f"promptclient-{digest}.json"

    def _load_cache(self) -> None:
        if self._cache_file is None:
            return
        try:
            saved = json.loads(self._cache_file.read_text())
            self._snapshot = Snapshot.from_bundle(saved["bundle"], saved.get("etag"))
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("promptclient: ignoring the on-disk cache %s: %s", self._cache_file, error)
            return
        for reference in saved.get("references", []):
            self._references.setdefault(reference_key(reference), reference)

    def _save_cache(self, snapshot: Snapshot) -> None:
        if self._cache_file is None or snapshot.bundle is None:
            return
        saved = {"etag": snapshot.etag, "references": list(self._references.values()), "bundle": snapshot.bundle}
        try:
            self._cache_file.parent.mkdir(parents=True, exist_ok=True)
            # Written beside it, then renamed over it: a reader never sees half a file.
            with tempfile.NamedTemporaryFile("w", dir=self._cache_file.parent, delete=False, suffix=".tmp") as out:
                json.dump(saved, out)
            os.replace(out.name, self._cache_file)
        except OSError as error:
            logger.warning("promptclient: cannot write the on-disk cache %s: %s", self._cache_file, error)


def _render_fallback(fallback: Fallback, values: Mapping[str, Any], environment: str) -> Rendered:
    """The caller's fallback prompt rendered with the values by the same renderer; every placeholder is a
    variable of the type of the value given for it (required: a missing value is ValuesInvalid)."""
    texts = [fallback] if isinstance(fallback, str) else [message["content"] for message in fallback]
    names = sorted({name for text in texts for name in parse_text(text).names})
    variables = parse_variables([{"name": name, "type": _json_type(values.get(name))} for name in names])
    messages = None if isinstance(fallback, str) else tuple((m["role"], m["content"]) for m in fallback)
    definition = VersionDefinition.build(
        content=fallback if isinstance(fallback, str) else None,
        messages=messages,
        variables=variables,
        model_config={},
        provider="",
    )
    output = RenderPlan.compile(
        version_id=UUID(int=0), template_id=UUID(int=0), version="", definition=definition
    ).render(values)
    body: Rendered = {"environment": environment, "fallback": True, "modelConfig": {}}
    body["messages" if isinstance(output, list) else "rendered"] = output
    return body


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


__all__ = ["PromptClient", "TemplateUnavailable", "ValuesInvalid"]
