"""Which variant a subject is served while a test runs: what render and `POST /api/abtests/{id}/assign` ask.

Assignment is pure computation (promptrender.serving, shared with the Python client): a subject's bucket
follows from the test's id and the subject's id, so it is the same in every process, after restarts, and for
every call; nothing is written.
What render needs from the database is only whether a test runs (or is paused) for the template and
environment: a sub-select it adds to its one query (`live_test_sql`). A test's variants never change once it
is created (no update exists; weights of a running test cannot change), so each process keeps them in memory
by the test's id.
"""

from __future__ import annotations

from threading import Lock
from typing import Any
from uuid import UUID

from promptrender.serving import ServedVariant, TestVariants

from abtesting.exceptions import TestNotLive
from abtesting.models import ABTest, Variant
from abtesting.selectors import abtest_by_id
from lifecycle.core.db.lookups import QuoteName, column_of

# Tests whose variants a process keeps (a few hundred bytes each); beyond it, the oldest go.
_KEPT_TESTS = 1_000


_kept: dict[UUID, TestVariants] = {}
_lock = Lock()


def test_variants(test_id: UUID) -> TestVariants:
    """The test's variants, read once per process (they never change)."""
    found = _kept.get(test_id)
    if found is not None:
        return found
    rows = (
        Variant.objects.filter(test_id=test_id)
        .order_by("position")
        .values_list("key", "template_version_id", "is_control", "traffic_percentage")
    )
    variants = tuple(ServedVariant(key, version_id, is_control) for key, version_id, is_control, _ in rows)
    made = TestVariants(test_id, variants, tuple(float(percentage) for *_, percentage in rows))
    with _lock:
        if len(_kept) >= _KEPT_TESTS:
            _kept.pop(next(iter(_kept)))
        _kept[test_id] = made
    return made


def live_test_sql(qn: QuoteName) -> str:
    """A sub-select answering "<test id>:<state>" for the test running (else the one paused last) for a
    template (first parameter) in an environment (second), or NULL: one more column of render's query."""
    table = qn(ABTest._meta.db_table)
    column = {name: qn(column_of(ABTest, name)) for name in ("id", "template", "environment", "state", "paused_at")}
    return (
        f"SELECT CAST({column['id']} AS TEXT) || ':' || {column['state']} FROM {table} "
        f"WHERE {column['template']} = %s AND {column['environment']} = %s "
        f"AND {column['state']} IN ('running', 'paused') "
        f"ORDER BY CASE WHEN {column['state']} = 'running' THEN 0 ELSE 1 END, {column['paused_at']} DESC LIMIT 1"
    )


def parse_live_test(value: Any) -> tuple[UUID, bool] | None:
    """live_test_sql's answer as (test id, running), or None when no test is live."""
    if not value:
        return None
    test_id, _, state = str(value).partition(":")
    return UUID(test_id), state == ABTest.State.RUNNING


def assign(*, test_id: UUID, subject_id: str) -> tuple[ABTest, ServedVariant]:
    """The subject's variant in the test, as render serves it: its bucket (also before the test starts: what
    it will be served), the control while the test is paused; TestNotLive once it has ended."""
    test = abtest_by_id(test_id)
    if test.state in (ABTest.State.COMPLETED, ABTest.State.CANCELLED):
        raise TestNotLive()
    return test, test_variants(test.pk).variant_for(subject_id, running=test.state != ABTest.State.PAUSED)
