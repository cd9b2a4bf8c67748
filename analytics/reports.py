"""Reading an execution as integrations report it (the original README's payload, plus the fields API.md
adds), checked by hand: a DRF serializer costs about 67 µs a row, more than storing it
(../shared/research/limits.md), and a batch holds up to a thousand rows.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings

from analytics.models import SUBJECT_ID_MAX_LENGTH
from analytics.windows import EARLIEST, iso
from lifecycle.core.db.values import as_uuid
from lifecycle.core.environments import ENVIRONMENTS, NOT_AN_ENVIRONMENT, Environment
from lifecycle.core.ids import uuid7

STATUSES = ("success", "error", "timeout")
MAX_RESPONSE_TIME_MS = 3_600_000  # an hour: anything longer is a unit mistake, not a slow model
MAX_TOKENS = 10_000_000
MAX_COST = 10_000.0
TRUNCATION_MARK = "…[truncated {} characters]"


class ReportInvalid(Exception):
    """One field of one report is wrong: `field` is its path in the report (e.g. `tokenUsage.cost`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass(slots=True)
class ExecutionReport:
    """A checked report, in the order of the columns it is stored in (analytics.services)."""

    id: uuid.UUID
    version_id: uuid.UUID
    environment: str
    status: str
    executed_at: datetime
    response_time_ms: float
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost: float | None
    provider: str
    region: str
    user_agent: str
    request_id: str | None
    user_ref: str
    subject_ref: str
    user_satisfaction: int | None
    converted: bool | None
    ab_test_id: uuid.UUID | None
    variant_id: str
    error_type: str
    error_message: str
    input: str
    output: str
    template_id: uuid.UUID | None = None  # the version's template, filled in once the version is found


def _string(raw: dict[str, Any], key: str, path: str, max_length: int, *, required: bool = False) -> str:
    value = raw.get(key)
    if value is None:
        if required:
            raise ReportInvalid(path, "is required")
        return ""
    if not isinstance(value, str):
        raise ReportInvalid(path, "must be a string")
    if len(value) > max_length:
        raise ReportInvalid(path, f"must be at most {max_length} characters")
    return value


def _count(raw: dict[str, Any], key: str, path: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReportInvalid(path, "must be a whole number")
    if not 0 <= value <= MAX_TOKENS:
        raise ReportInvalid(path, f"must be between 0 and {MAX_TOKENS:,}")
    return value


def _number(value: Any, path: str, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportInvalid(path, "must be a number")
    if not (isinstance(value, int) or math.isfinite(value)) or not 0 <= value <= maximum:
        raise ReportInvalid(path, f"must be between 0 and {maximum:,g}")
    return float(value)


def _uuid(value: Any, path: str) -> uuid.UUID:
    if not isinstance(value, str):
        raise ReportInvalid(path, "must be an id (a UUID string)")
    try:
        return as_uuid(value)  # remembered: the same few version ids come in every row of a batch
    except ValueError:
        raise ReportInvalid(path, "must be an id (a UUID string)") from None


def _object(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ReportInvalid(key, "must be an object")
    return value


@dataclass(frozen=True, slots=True)
class Rules:
    """What a report is checked against: the settings, read once per batch rather than once per field."""

    now: datetime
    latest: datetime  # the latest acceptable timestamp: now plus the clock skew allowed
    store_payloads: bool
    payload_max_chars: int

    @classmethod
    def at(cls, now: datetime) -> Rules:
        return cls(
            now=now,
            latest=now + timedelta(seconds=settings.EXECUTION_CLOCK_SKEW_SECONDS),
            store_payloads=settings.EXECUTION_STORE_PAYLOADS,
            payload_max_chars=settings.EXECUTION_PAYLOAD_MAX_CHARS,
        )


def bounded(value: Any, rules: Rules) -> str:
    """An input or output as stored: text (JSON for anything but a string), cut at the configured length."""
    if value is None or not rules.store_payloads:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    limit = rules.payload_max_chars
    if len(text) <= limit:
        return text
    return text[:limit] + TRUNCATION_MARK.format(len(text) - limit)


def _timestamp(value: Any, rules: Rules) -> datetime:
    if value is None:
        return rules.now
    if not isinstance(value, str):
        raise ReportInvalid("timestamp", "must be an ISO 8601 time with a zone, e.g. 2026-01-31T12:00:00Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ReportInvalid("timestamp", "must be an ISO 8601 time with a zone, e.g. 2026-01-31T12:00:00Z") from None
    if moment.utcoffset() is None:
        raise ReportInvalid("timestamp", "needs a time zone (e.g. Z or +02:00)")
    # Compared before converting: 0001-01-01T00:00:00+14:00 has no year in UTC to be converted into.
    if moment < EARLIEST:
        # No query window reaches further back (analytics.windows): an execution stored so would never be seen.
        raise ReportInvalid("timestamp", f"must not be before {iso(EARLIEST)}")
    if moment > rules.latest:
        raise ReportInvalid("timestamp", "is in the future")
    return moment.astimezone(UTC)


def read_report(raw: Any, rules: Rules) -> ExecutionReport:
    """Check one reported execution; ReportInvalid names the first field that is wrong."""
    if not isinstance(raw, dict):
        raise ReportInvalid("", "must be an object")
    version_id = _uuid(raw.get("templateVersionId"), "templateVersionId")
    status = raw.get("status")
    if status not in STATUSES:
        raise ReportInvalid("status", f"must be one of {', '.join(STATUSES)}")
    if "responseTime" not in raw:
        raise ReportInvalid("responseTime", "is required (milliseconds)")
    response_time = _number(raw["responseTime"], "responseTime", MAX_RESPONSE_TIME_MS)
    environment = raw.get("environment", Environment.PRODUCTION)
    if environment not in ENVIRONMENTS:
        raise ReportInvalid("environment", NOT_AN_ENVIRONMENT)

    usage = _object(raw, "tokenUsage")
    input_tokens = _count(usage, "inputTokens", "tokenUsage.inputTokens")
    output_tokens = _count(usage, "outputTokens", "tokenUsage.outputTokens")
    total_tokens = _count(usage, "totalTokens", "tokenUsage.totalTokens")
    if input_tokens is not None and output_tokens is not None:
        if total_tokens is None:
            total_tokens = input_tokens + output_tokens
        elif total_tokens != input_tokens + output_tokens:
            raise ReportInvalid("tokenUsage.totalTokens", "must equal inputTokens + outputTokens")
    cost = usage.get("cost")
    cost = None if cost is None else _number(cost, "tokenUsage.cost", MAX_COST)

    metadata = _object(raw, "metadata")
    request_id = _string(metadata, "requestId", "metadata.requestId", 200) or None

    satisfaction = raw.get("userSatisfaction")
    if satisfaction is not None and (
        isinstance(satisfaction, bool) or not isinstance(satisfaction, int) or not 1 <= satisfaction <= 5
    ):
        raise ReportInvalid("userSatisfaction", "must be a whole number from 1 to 5")
    converted = raw.get("converted")
    if converted is not None and not isinstance(converted, bool):
        raise ReportInvalid("converted", "must be true or false")
    ab_test_id = raw.get("abTestId")
    ab_test_id = None if ab_test_id is None else _uuid(ab_test_id, "abTestId")

    error = _object(raw, "error")
    if error and status == "success":
        raise ReportInvalid("error", "is for executions whose status is error or timeout")
    error_type = _string(error, "type", "error.type", 100) or ("" if status == "success" else status)
    error_message = _string(error, "message", "error.message", 2000)

    return ExecutionReport(
        id=uuid7(),
        version_id=version_id,
        environment=environment,
        status=status,
        executed_at=_timestamp(raw.get("timestamp"), rules),
        response_time_ms=response_time,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total_tokens,
        cost=cost,
        provider=_string(raw, "provider", "provider", 50),
        region=_string(metadata, "region", "metadata.region", 50),
        user_agent=_string(metadata, "userAgent", "metadata.userAgent", 500),
        request_id=request_id,
        user_ref=_string(raw, "userId", "userId", 200),
        subject_ref=_string(raw, "subjectId", "subjectId", SUBJECT_ID_MAX_LENGTH),
        user_satisfaction=satisfaction,
        converted=converted,
        ab_test_id=ab_test_id,
        variant_id=_string(raw, "variantId", "variantId", 100),
        error_type=error_type,
        error_message=error_message,
        input=bounded(raw.get("input"), rules),
        output=bounded(raw.get("output"), rules),
    )
