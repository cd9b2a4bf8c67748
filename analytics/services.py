"""Storing executions, and deleting them when their retention ends.

Ingestion is the product's second hot path (a busy customer reports millions of executions a day), so a
request only writes, in one transaction: one INSERT INTO ExecutionRequest ... ON CONFLICT (template_id,
request_id) DO NOTHING RETURNING execution_id (the database decides which reports are new, also when the
same request id arrives twice at the same moment: the second waits on the unique index for the first's
transaction), one INSERT of the executions that are new, and one PendingBatch row. The dedup has its own
table because the executions table is partitioned by day on PostgreSQL (analytics.partitions), where no
unique index can span the days. A request id is unique per template, not across the database: one
template's reports can neither be read through another's ids nor be suppressed by ids claimed in advance.
A worker folds pending batches into the rollups (analytics.rollups), many at a time, so each rollup row is
written once per pass rather than once per request. Until then queries read a pending batch's rows raw
(analytics.selectors), so the numbers are exact at every moment.
"""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, get_args, get_type_hints
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from analytics.models import Execution, ExecutionRequest, PendingBatch, VariantSubject, VariantSubjectCount
from analytics.monitoring import count_ingested
from analytics.partitions import drop_expired_partitions
from analytics.permissions import require_may_report, require_may_report_at_all
from analytics.reports import ExecutionReport, ReportInvalid, Rules, read_report
from lifecycle.core.db.bulk import insert_ignoring_conflicts
from lifecycle.core.db.lookups import column_of
from lifecycle.core.db.sqlite import one_writer_at_a_time
from lifecycle.core.exceptions import InvalidInput
from lifecycle.core.ids import uuid7, uuid7_floor
from lifecycle.core.roles import User
from templates_app.selectors import templates_of_versions

MAX_BATCH = 1000
_REPORT_COLUMNS = [field.name for field in fields(ExecutionReport)]
_report_values = operator.attrgetter(*_REPORT_COLUMNS)
_REPORT_TYPES = get_type_hints(ExecutionReport)
# The columns whose values are UUIDs (or None): SQLite's driver takes them as 32 hex digits.
_UUID_POSITIONS = [
    index for index, name in enumerate(_REPORT_COLUMNS) if UUID in (_REPORT_TYPES[name], *get_args(_REPORT_TYPES[name]))
]
_TIME_POSITION = _REPORT_COLUMNS.index("executed_at")
_ID_POSITION = _REPORT_COLUMNS.index("id")
_TEMPLATE_POSITION = _REPORT_COLUMNS.index("template_id")
_REQUEST_POSITION = _REPORT_COLUMNS.index("request_id")


@dataclass(frozen=True)
class Recorded:
    """What a batch stored: the new reports, and those whose template already had their request id."""

    created: list[ExecutionReport]
    duplicates: list[ExecutionReport]


@dataclass(frozen=True)
class RecordedOne:
    """What one report came to: the execution stored for it now, or (a duplicate) the id of the execution
    its template already had for its request id."""

    report: ExecutionReport
    execution: Execution | None
    stored_id: UUID


def read_single_report(raw: Any, *, actor: User) -> ExecutionReport:
    """Check one report; InvalidInput names its wrong fields as they are in it (`status`, `tokenUsage.cost`)."""
    try:
        (report,) = read_reports([raw], actor=actor)
    except InvalidInput as exc:
        fields = {path.removeprefix("executions[0].") or "body": msgs for path, msgs in exc.fields.items()}
        raise InvalidInput.of(fields) from None
    return report


def read_batch(body: Any, *, actor: User) -> list[ExecutionReport]:
    """Check a batch body, `{"executions": [1 to MAX_BATCH reports]}`, and every report in it."""
    executions = body.get("executions") if isinstance(body, dict) else None
    if not isinstance(executions, list) or not 1 <= len(executions) <= MAX_BATCH:
        raise InvalidInput.at("executions", f"must be a list of 1 to {MAX_BATCH} executions")
    return read_reports(executions, actor=actor)


def read_reports(raws: Sequence[Any], *, actor: User, path: str = "executions") -> list[ExecutionReport]:
    """Check every report of a batch, and that `actor` may report for the templates of their versions
    (analytics.permissions); InvalidInput names each wrong row and field (`executions[3].status`)."""
    require_may_report_at_all(actor)
    rules = Rules.at(timezone.now())
    reports: list[ExecutionReport] = []
    problems: dict[str, list[str]] = {}
    for index, raw in enumerate(raws):
        try:
            reports.append(read_report(raw, rules))
        except ReportInvalid as exc:
            problems[f"{path}[{index}].{exc.field}".rstrip(".")] = [exc.message]
            if len(problems) >= 20:
                break
    if not problems:
        templates = templates_of_versions(report.version_id for report in reports)
        for index, report in enumerate(reports):
            if report.version_id not in templates:
                problems[f"{path}[{index}].templateVersionId"] = ["no version with this id"]
            else:
                report.template_id = templates[report.version_id]
    if problems:
        raise InvalidInput.of(problems)
    require_may_report(actor, {report.template_id for report in reports if report.template_id is not None})
    return reports


def record_execution(report: ExecutionReport) -> RecordedOne:
    """Store one report unless its template already has an execution with its request id."""
    recorded = record_executions([report])
    if recorded.created:
        return RecordedOne(report, Execution.objects.get(pk=report.id), report.id)
    assert report.template_id is not None  # filled in by record_executions
    stored = ExecutionRequest.objects.filter(template_id=report.template_id, request_id=report.request_id)
    return RecordedOne(report, None, stored.values_list("execution_id", flat=True).get())


def record_executions(reports: Sequence[ExecutionReport]) -> Recorded:
    """Store the reports that are new (by template and request id), all or nothing, as one pending batch."""
    if not reports:
        return Recorded([], [])
    _fill_in_templates(reports)
    # Sorted by the unique key, so that two batches sharing ids wait for each other in one order, never both.
    keyed = sorted(((_unique_key(report), report) for report in reports), key=operator.itemgetter(0))
    seen: set[tuple[str, int]] = set()
    fresh: list[ExecutionReport] = []
    repeated: list[ExecutionReport] = []
    for key, report in keyed:
        if report.request_id is None:
            fresh.append(report)
        elif key in seen:
            repeated.append(report)  # the same request of the same template twice in one batch: stored once
        else:
            seen.add(key)
            fresh.append(report)
    batch_id = uuid7()
    columns, rows = _rows(fresh, batch_id)  # before the write lock: SQLite's writers queue for it
    with one_writer_at_a_time(), transaction.atomic():
        inserted = _insert(columns, rows)  # the rows' ids, as the driver takes them
        # Compared as the driver hands ids back (hex text on SQLite): turning each into a UUID cost 2% of a batch.
        created = [report for report, row in zip(fresh, rows, strict=True) if row[_ID_POSITION] in inserted]
        if inserted:
            PendingBatch.objects.create(id=batch_id, executions=len(inserted))
            _note_subjects(created)
    duplicates = repeated + [
        report for report, row in zip(fresh, rows, strict=True) if row[_ID_POSITION] not in inserted
    ]
    count_ingested(stored=len(created), duplicates=len(duplicates))
    return Recorded(created, duplicates)


def _note_subjects(reports: Sequence[ExecutionReport]) -> None:
    """Keep the subject of each report that names an A/B test's variant (its subjectId, else its userId)
    in VariantSubject, once per (test, variant, subject), and raise each variant's VariantSubjectCount by
    the subjects that were new, in the caller's transaction. Sorted, so that two batches with the same
    subjects take the unique indexes' locks in one order."""
    seen = sorted(
        {
            (report.ab_test_id, report.variant_id, report.subject_ref or report.user_ref)
            for report in reports
            if report.ab_test_id is not None and report.variant_id and (report.subject_ref or report.user_ref)
        }
    )
    if not seen:
        return
    native_uuid = connection.features.has_native_uuid_field
    columns = [column_of(VariantSubject, name) for name in ("ab_test_id", "variant_id", "subject")]
    new: Counter[tuple[UUID, str]] = Counter()
    for test_id, rows in itertools.groupby(seen, key=operator.itemgetter(0)):
        driver_id = test_id if native_uuid else test_id.hex
        inserted = insert_ignoring_conflicts(
            VariantSubject,
            columns,
            [(driver_id, variant, subject) for _, variant, subject in rows],
            conflict_columns=columns,
            returning=column_of(VariantSubject, "variant_id"),
        )
        new.update((test_id, variant) for variant in inserted)
    counted = sorted(new.items())
    VariantSubjectCount.objects.bulk_create(
        [VariantSubjectCount(ab_test_id=test_id, variant_id=variant) for (test_id, variant), _ in counted],
        ignore_conflicts=True,
    )
    for (test_id, variant), added in counted:
        VariantSubjectCount.objects.filter(ab_test_id=test_id, variant_id=variant).update(
            subjects=F("subjects") + added
        )


def _unique_key(report: ExecutionReport) -> tuple[str, int]:
    """What the executions table keeps unique, (template, request id), in a form quick to sort and hash."""
    assert report.template_id is not None  # _fill_in_templates
    return report.request_id or "", report.template_id.int


def _fill_in_templates(reports: Sequence[ExecutionReport]) -> None:
    """The template of each report's version, for reports that did not come through read_reports (which
    finds them): a request id is unique per template, so duplicates are told by it."""
    unknown = [report for report in reports if report.template_id is None]
    if unknown:
        templates = templates_of_versions(report.version_id for report in unknown)
        for report in unknown:
            report.template_id = templates[report.version_id]


def _rows(reports: list[ExecutionReport], batch_id: UUID) -> tuple[list[str], list[list[Any]]]:
    """The executions table's columns, and the reports' values for them as the driver takes them."""
    ops = connection.ops
    columns = [*_REPORT_COLUMNS, "received_at", "batch_id"]
    received_at = ops.adapt_datetimefield_value(timezone.now())
    native_uuid = connection.features.has_native_uuid_field
    tail = [received_at, batch_id if native_uuid else batch_id.hex]
    rows: list[list[Any]] = []
    # lifecycle.core.db.values.driver_values, inline and by position: a call per value cost this hot path 5%.
    for report in reports:
        row = list(_report_values(report))
        if not native_uuid:
            for position in _UUID_POSITIONS:
                if row[position] is not None:
                    row[position] = row[position].hex
        row[_TIME_POSITION] = ops.adapt_datetimefield_value(row[_TIME_POSITION])
        row += tail
        rows.append(row)
    return columns, rows


def _insert(columns: list[str], rows: list[list[Any]]) -> set[Any]:
    """Claim the rows' request ids (INSERT INTO ExecutionRequest ... ON CONFLICT DO NOTHING RETURNING), then
    insert the rows without a request id and those whose claim was new; the ids of the rows inserted, as
    the driver takes them (as in the rows). Call in a transaction: a claim without its execution must not
    outlive a failed insert. Rows in the unique key's order (record_executions), so that two batches
    sharing request ids wait for each other on the unique index in one order, never both."""
    if not rows:
        return set()
    claims = [
        (row[_ID_POSITION], row[_TEMPLATE_POSITION], row[_REQUEST_POSITION])
        for row in rows
        if row[_REQUEST_POSITION] is not None
    ]
    claimed: set[Any] = set()
    if claims:
        claimed = set(
            insert_ignoring_conflicts(
                ExecutionRequest,
                [column_of(ExecutionRequest, name) for name in ("execution_id", "template_id", "request_id")],
                claims,
                conflict_columns=[
                    column_of(ExecutionRequest, "template_id"),
                    column_of(ExecutionRequest, "request_id"),
                ],
                returning=column_of(ExecutionRequest, "execution_id"),
            )
        )
        if len(claimed) < len(claims):
            rows = [row for row in rows if row[_REQUEST_POSITION] is None or row[_ID_POSITION] in claimed]
    if rows:
        # No ON CONFLICT: every row is new (its id a fresh uuid7, its request id claimed just now).
        insert_ignoring_conflicts(
            Execution, [column_of(Execution, name) for name in columns], rows, conflict_columns=None, returning=None
        )
    return {row[_ID_POSITION] for row in rows}


def delete_expired_executions(*, now: datetime | None = None, batch: int = 5000) -> int:
    """Delete raw executions older than EXECUTION_RETENTION_DAYS, and forget the request ids received
    before then. The rollups keep their sums. Returns how many executions were deleted.

    On PostgreSQL the days entirely before the cutoff go as whole partitions (analytics.partitions); then,
    there and on SQLite, the expired rows left (the day straddling the cutoff, the default partition, a day
    that held rows not rolled up yet) are deleted a batch per transaction (no long lock)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EXECUTION_RETENTION_DAYS)
    deleted = drop_expired_partitions(cutoff)
    # Rows of a batch not rolled up yet are kept: the rollups would never count them otherwise.
    expired = Execution.objects.filter(executed_at__lt=cutoff).exclude(batch_id__in=PendingBatch.objects.values("pk"))
    while ids := list(expired.values_list("pk", flat=True)[:batch]):
        with transaction.atomic():
            # executed_at too: on PostgreSQL the planner then looks for the ids in the expired days only.
            deleted += Execution.objects.filter(pk__in=ids, executed_at__lt=cutoff).delete()[0]
    _forget_request_ids(cutoff, batch)
    return deleted


def _forget_request_ids(cutoff: datetime, batch: int) -> None:
    """Delete the request ids received before `cutoff`: a range of the primary key, whose uuid7 starts with
    the time the report was received (lifecycle.core.ids). Received, not executed: a late report of a day
    past retention is still told apart from its repeats for EXECUTION_RETENTION_DAYS, as any other."""
    received_before = uuid7_floor(int(cutoff.timestamp() * 1000))
    old = ExecutionRequest.objects.filter(execution_id__lt=received_before)
    while ids := list(old.values_list("pk", flat=True)[:batch]):
        with transaction.atomic():
            ExecutionRequest.objects.filter(pk__in=ids).delete()
