"""PromptClient: renders the templates it uses from memory, as the server renders them.

- The hot path (`render`) reads an immutable snapshot: no request, no lock, no I/O. Only the first use of a
  template the client has never seen asks the server (once, bounded by `timeout`; not while the server is
  failing, nor for a template the server said it does not know).
- The templates in use are registered with the server as one set (`POST /api/templates/bundle`); a
  background thread then polls the set's bundle every `refresh_interval` seconds, in one conditional request
  however many templates it holds (`GET /api/templates/bundle/{setId}`, 304 while nothing changed), and
  swaps in a new snapshot when something did: a deploy or a rollback is served within the interval.
- While the server is unreachable or failing, renders keep the last snapshot; the failure is logged once,
  and the refresh backs off. With `cache_dir`, the last bundle is also kept on disk, so a restarted process
  serves before the server answers.
- `report` queues an execution for a background sender (reports.ReportQueue).

The threads start with the client; in a forked child (a pre-forking web server's workers), each child
starts its own on its first render or report, with an empty report queue (the parent sends its own).
"""

from __future__ import annotations

import asyncio
import atexit
import copy
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from promptrender.assignment import validate_subject_id
from promptrender.definitions import VersionDefinition
from promptrender.placeholders import parse_text
from promptrender.rendering import RenderPlan
from promptrender.serving import result_json, what_to_serve
from promptrender.variables import TYPES, ValuesInvalid, json_type_of, parse_variables

from promptclient.reports import MAX_BATCH_BYTES, ReportQueue, prepared
from promptclient.snapshot import Snapshot, reference_key
from promptclient.transport import Answer, ServerUnavailable, Transport

logger = logging.getLogger("promptclient")

Rendered = dict[str, Any]
Fallback = str | Sequence[Mapping[str, str]]

# What the server takes in a set (lifecycle.releases.bundles): longer references and larger sets are refused
# here, before they could make every refresh fail.
MAX_REFERENCE_LENGTH = 200
MAX_TEMPLATES = 2000
# A report the server could never take in a batch: refused at report(), where the caller can be told.
MAX_REPORT_BYTES = MAX_BATCH_BYTES


class TemplateUnavailable(LookupError):
    """The client cannot render the template: unknown to the server, nothing active in the environment,
    never fetched while the server was unreachable or refusing the token (and no fallback was given)."""

    def __init__(self, template: str, why: str) -> None:
        self.template = template
        super().__init__(f"Template {template!r}: {why}")


class TokenRefused(ServerUnavailable):
    """The server refused the client's token (401) or its access (403)."""


def _problem_with(reference: object) -> str | None:
    """Why the server would refuse this as a template's id or name (checked before it is ever sent: a set the
    server refuses would stop every refresh), or None."""
    if not isinstance(reference, str) or not reference.strip():
        return "a template is named by its id or its name"
    if len(reference) > MAX_REFERENCE_LENGTH:
        return f"names and ids are at most {MAX_REFERENCE_LENGTH} characters"
    if "\x00" in reference or any("\ud800" <= character <= "\udfff" for character in reference):
        return "a name holds no NUL character and no lone surrogate"
    return None


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
        self.refresh_interval = max(refresh_interval, 0.05)
        self.max_backoff = max_backoff
        self._transport = Transport(base_url, token, timeout)
        # Replaced, never changed in place (under _lock): readers take the dict without a lock.
        self._references: dict[str, str] = {}
        for reference in templates:
            if _problem_with(reference) is None and len(self._references) < MAX_TEMPLATES:
                self._references[reference_key(reference)] = reference.strip()
        self._snapshot = Snapshot(environment, None)
        self._set_id: str | None = None  # the registered set the snapshot is the bundle of
        self._set_keys: frozenset[str] = frozenset()
        self._refused: str | None = None  # why the server refuses the token, while it does
        self._failing = False
        self._closed = False
        self._reset_locks()
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
        self.requests = 0  # bundle requests made (registrations and polls)
        self.registrations = 0  # of them, registrations of a set (a template used for the first time)
        self._refused_references: dict[str, str] = {}  # references the server refused, and why
        self._load_cache()
        self._ensure_threads()
        own = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: PromptClient._after_fork(own))
        atexit.register(weakref.finalize(self, PromptClient._close_at_exit, own))

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
        if isinstance(template, UUID):
            template = str(template)
        if subject_id is not None:
            validate_subject_id(subject_id)
        if self._pid != os.getpid():
            self._ensure_threads()
        snapshot = self._snapshot
        entry = snapshot.find(template)
        if entry is None:
            why = self._why_not_known(template)
            if why is None:
                snapshot = self._first_use(template)
                entry = snapshot.find(template)
                why = self._why_not_known(template) or "the server could not be reached and nothing is cached"
            if entry is None:
                return self._fallback_or_raise(template, why, fallback, values)
        served = what_to_serve(entry.active_version_id, entry.live, subject_id)
        if served.version_id is None:
            return self._fallback_or_raise(template, f"no version is active in {self.environment}", fallback, values)
        plan = snapshot.plans[served.version_id]
        answer = result_json(plan, self.environment, plan.render(values), served.test_id, served.variant_key)
        # The plan's own settings stay as they are, whatever the caller does with the answer's.
        answer["modelConfig"] = {
            key: copy.deepcopy(value) if isinstance(value, dict | list) else value
            for key, value in answer["modelConfig"].items()
        }
        return answer

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
        `metadata.requestId` and the `timestamp` (now) are added when absent. Never blocks on the network,
        never raises: what cannot be reported (a fallback's answer, a value that is not JSON) is logged."""
        execution: dict[str, Any] = {}
        if rendered is not None and rendered.get("versionId"):
            execution["templateVersionId"] = rendered["versionId"]
            execution["environment"] = rendered.get("environment", self.environment)
            if rendered.get("abTestId"):
                execution["abTestId"], execution["variantId"] = rendered["abTestId"], rendered["variantId"]
        execution.update(fields)
        execution.setdefault("environment", self.environment)
        if not execution.get("templateVersionId"):
            self._reports.rejected += 1
            logger.debug("promptclient: nothing to report without a version (a fallback's answer)")
            return
        try:
            ready, size = prepared(execution)
        except Exception as error:  # not JSON, NaN, nested too deep: the caller's report, never their call
            self._reports.rejected += 1
            logger.error("promptclient: a report was not queued: %s", error)
            return
        if size > MAX_REPORT_BYTES:
            self._reports.rejected += 1
            logger.error("promptclient: a report of %d bytes was not queued (at most %d)", size, MAX_REPORT_BYTES)
            return
        if self._closed:
            self._reports.rejected += 1
            logger.warning("promptclient: a report after close() was not queued")
            return
        if self._pid != os.getpid():
            self._ensure_threads()
        self._reports.add(ready, size)

    # --- Life cycle ----------------------------------------------------------------------------------------

    def wait_until_ready(self, timeout: float = 5.0) -> bool:
        """Whether the templates given so far are known (fetched, or from the disk cache) within `timeout`."""

        def known() -> bool:
            snapshot, references = self._snapshot, list(self._references.values())
            return all(snapshot.find(ref) or snapshot.is_missing(ref) for ref in references)

        return _wait_for(known, timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait (up to `timeout`) until every queued report is sent: whether none is left."""
        return _wait_for(lambda: self._reports.pending == 0, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop refreshing, and send the queued reports (for up to `timeout` seconds)."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        left = self._reports.stop(timeout)
        if left:
            logger.warning("promptclient: closed with %d reports unsent (the server did not take them in time)", left)
        if self._refresher is not None:
            self._refresher.join(timeout=1.0)

    def __enter__(self) -> PromptClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats(self) -> dict[str, int]:
        """Counters: bundle requests made (registrations of a set among them); reports sent, pending, dropped
        (buffer full), rejected (refused or not reportable)."""
        reports = self._reports
        return {
            "requests": self.requests,
            "registrations": self.registrations,
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

    @staticmethod
    def _after_fork(ref: weakref.ref[PromptClient]) -> None:
        """In a forked child: fresh locks and an empty report queue; threads start on first use."""
        client = ref()
        if client is not None:
            client._reset_locks()
            client._reports.reset()
            client._refresher = None

    def _reset_locks(self) -> None:
        # A lock held by a parent's thread at fork time would stay held in the child forever.
        self._lock = threading.Lock()  # the references, and starting threads
        self._fetch_lock = threading.Lock()  # one bundle request at a time (refresh, or a first use)
        self._wake = threading.Event()

    # --- Background work ----------------------------------------------------------------------------------

    def _ensure_threads(self) -> None:
        """Start (or, in a forked child, start again) the refresher and the report sender."""
        with self._lock:
            pid = os.getpid()
            if self._closed or self._pid == pid:
                return
            self._pid = pid
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
            except Exception as error:  # nothing here may end refreshing, nor reach the caller
                self._note_failure(error)
                delay = min(max(delay * 2, self.refresh_interval), self.max_backoff)
                continue
            if self._failing:
                self._failing = False
                logger.info("promptclient: refreshing again")
            delay = self.refresh_interval

    def _note_failure(self, error: Exception) -> None:
        if self._failing:
            return
        self._failing = True
        if isinstance(error, TokenRefused):
            logger.error("promptclient: the server refuses this client's token; serving what it has: %s", error)
        elif isinstance(error, ServerUnavailable):
            logger.warning("promptclient: serving what it has; cannot refresh: %s", error)
        else:
            logger.error("promptclient: serving what it has; refreshing failed", exc_info=error)

    def _refresh(self, wait: float | None = None) -> Snapshot:
        """Ask for every template in use (conditionally); swap in a new snapshot if something changed. With
        `wait`, give up (the current snapshot) when another request is in flight for longer than that."""
        if not self._fetch_lock.acquire(timeout=-1 if wait is None else wait):
            return self._snapshot
        try:
            return self._fetch()
        finally:
            self._fetch_lock.release()

    def _fetch(self) -> Snapshot:
        references = self._references
        if not references:
            return self._snapshot
        current = self._snapshot
        keys = frozenset(references)
        if self._set_id is not None and keys == self._set_keys:
            self.requests += 1
            answer = self._checked(self._transport.set_bundle(self._set_id, current.etag), allow=(200, 304, 404))
            if answer.status == 304:
                return current
            if answer.status == 200:
                return self._swap(answer, current)
        self.requests += 1
        self.registrations += 1
        answer = self._transport.register_set(list(references.values()), self.environment)
        if answer.status in (400, 413) and keys != self._set_keys:
            # The server refuses the set: what was added since the last set it took goes, with the reason, so
            # that one bad name never stops the refreshes of the others.
            self._refuse(keys - self._set_keys, f"the server refused it ({answer.status}: {answer.body})")
            return current
        self._set_id, self._set_keys = self._checked(answer).body["setId"], keys
        return self._swap(answer, current)

    def _swap(self, answer: Answer, current: Snapshot) -> Snapshot:
        snapshot = Snapshot.from_bundle(answer.body, answer.headers.get("ETag"), previous=current)
        self._snapshot = snapshot
        self._save_cache(snapshot)
        return snapshot

    def _refuse(self, keys: frozenset[str], why: str) -> None:
        logger.error("promptclient: %d templates not used: %s", len(keys), why)
        with self._lock:
            self._references = {key: ref for key, ref in self._references.items() if key not in keys}
            self._refused_references = {**self._refused_references, **dict.fromkeys(keys, why)}

    def _checked(self, answer: Answer, allow: tuple[int, ...] = (200,)) -> Answer:
        """The answer if its status is one of `allow`; else TokenRefused (401, 403) or ServerUnavailable."""
        if answer.status in allow:
            self._refused = None
            return answer
        if answer.status in (401, 403):
            self._refused = f"the server refuses this client's token ({answer.status})"
            raise TokenRefused(f"{self._refused}: {answer.body}")
        raise ServerUnavailable(f"the bundle answered {answer.status}: {answer.body}")

    def _why_not_known(self, template: str) -> str | None:
        """Why asking the server for a template not in the snapshot is useless now, or None to ask."""
        if (problem := _problem_with(template)) is not None:
            return problem
        if (refused := self._refused_references.get(reference_key(template))) is not None:
            return refused
        if self._snapshot.is_missing(template):
            return "no template has this id or name"
        if self._refused is not None:
            return self._refused
        if self._failing:
            self._use(template)  # the refresher asks for it once the server answers again
            return "the server could not be reached and nothing is cached"
        return None

    def _use(self, template: str) -> bool:
        """Add the template to those in use; False if the client holds MAX_TEMPLATES already."""
        key = reference_key(template)
        with self._lock:
            if key in self._references:
                return True
            if len(self._references) >= MAX_TEMPLATES:
                return False
            self._references = {**self._references, key: template.strip()}
        return True

    def _first_use(self, template: str) -> Snapshot:
        """A template never seen: add it to those in use and ask for the bundle now (once)."""
        if not self._use(template):
            logger.warning("promptclient: %r not fetched: a client holds %d templates at most", template, MAX_TEMPLATES)
            return self._snapshot
        try:
            # Behind a refresh in flight for at most one timeout: then the fallback, not a longer wait.
            return self._refresh(wait=self._transport.timeout)
        except Exception as error:  # the caller gets the fallback or TemplateUnavailable, never this
            self._note_failure(error)
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
            references = {
                reference_key(ref): ref.strip() for ref in saved.get("references", []) if _problem_with(ref) is None
            }
        except FileNotFoundError:
            return
        except Exception as error:  # a file from another version, or damaged: started without it
            logger.warning("promptclient: ignoring the on-disk cache %s: %s", self._cache_file, error)
            self._snapshot = Snapshot(self.environment, None)
            return
        merged = {**references, **self._references}
        self._references = dict(list(merged.items())[:MAX_TEMPLATES])

    def _save_cache(self, snapshot: Snapshot) -> None:
        if self._cache_file is None or snapshot.bundle is None:
            return
        # Only the templates the server knows: a name that was never a template is not kept across restarts.
        known = [ref for ref in self._references.values() if not snapshot.is_missing(ref)]
        saved = {"etag": snapshot.etag, "references": known, "bundle": snapshot.bundle}
        try:
            self._cache_file.parent.mkdir(parents=True, exist_ok=True)
            # Written beside it, then renamed over it: a reader never sees half a file.
            with tempfile.NamedTemporaryFile("w", dir=self._cache_file.parent, delete=False, suffix=".tmp") as out:
                json.dump(saved, out)
            os.replace(out.name, self._cache_file)
        except OSError as error:
            logger.warning("promptclient: cannot write the on-disk cache %s: %s", self._cache_file, error)


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether `condition()` holds within `timeout` seconds (checked every 20 ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _render_fallback(fallback: Fallback, values: Mapping[str, Any], environment: str) -> Rendered:
    """The caller's fallback prompt rendered with the values by the same renderer; every placeholder is a
    variable of the type of the value given for it (required: a missing value is ValuesInvalid)."""
    texts = [fallback] if isinstance(fallback, str) else [message["content"] for message in fallback]
    names = sorted({name for text in texts for name in parse_text(text).names})
    # A placeholder given no value (or null) is a string: refused as missing, as the server refuses it.
    types = {name: json_type_of(values.get(name)) for name in names}
    variables = parse_variables(
        [{"name": name, "type": types[name] if types[name] in TYPES else "string"} for name in names]
    )
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


__all__ = ["PromptClient", "TemplateUnavailable", "ValuesInvalid"]
