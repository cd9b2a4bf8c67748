"""The audit trail as one list: each app turns its simple-history records into `AuditEntry`s.

Every app that owns audited models exposes a selector returning entries for one template; the template's
history endpoint merges them in time order (lifecycle.releases).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


@dataclass(frozen=True)
class AuditEntry:
    """One change: what (`subject`, `subject_id`), how (`action`), who (`by`) and when (`at`)."""

    at: datetime
    by: str | None
    subject: str
    subject_id: str
    action: str
    summary: str
    changes: list[dict[str, Any]] = field(default_factory=list)
    # Orders entries written in the same instant: their history row ids grow with time per subject.
    sequence: int = 0


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)


def entries_from_history(
    records: Iterable[Any],
    *,
    subject: str,
    describe: Callable[[Any, str], str],
    ignore_fields: Iterable[str] = (),
    present: Callable[[str, Any], Any] = lambda field_name, value: value,
) -> list[AuditEntry]:
    """Audit entries from simple-history records (oldest first); `describe(record, action)` writes the summary.

    A change lists each field that differs from the record before it, its values passed through
    `present(field_name, value)`; a record that changes nothing we show is left out.
    """
    ignored = set(ignore_fields)
    entries: list[AuditEntry] = []
    previous_by_object: dict[Any, Any] = {}
    for record in records:
        action = _ACTIONS.get(record.history_type, record.history_type)
        changes: list[dict[str, Any]] = []
        previous = previous_by_object.get(record.id)
        if action == "changed" and previous is not None:
            delta = record.diff_against(previous, excluded_fields=ignored)
            changes = [
                {
                    "field": change.field,
                    "from": _jsonable(present(change.field, change.old)),
                    "to": _jsonable(present(change.field, change.new)),
                }
                for change in delta.changes
            ]
            if not changes:
                previous_by_object[record.id] = record
                continue
        previous_by_object[record.id] = record
        user = record.history_user
        entries.append(
            AuditEntry(
                at=record.history_date,
                by=user.get_username() if user is not None else None,
                subject=subject,
                subject_id=str(record.id),
                action=action,
                summary=describe(record, action),
                changes=changes,
                sequence=record.history_id,
            )
        )
    return entries
