"""The dashboard's period selector: the last 24 hours, 7 days or 30 days, or custom days, as the window
and granularity the API would take for them (one validation: analytics.api.serializers.OverviewQuery)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.utils import timezone
from rest_framework.exceptions import ValidationError

from analytics.api.serializers import OverviewQuery
from analytics.windows import AHEAD, DAY, Window, floor_hour, iso

LAST = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
LABELS = {"24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days", "custom": "custom days"}
DEFAULT = "7d"
# Custom periods span at most this many days: a page draws a point per day of each trend.
LONGEST_DAYS = 366


@dataclass(frozen=True)
class Period:
    key: str  # 24h, 7d, 30d or custom
    window: Window
    granularity: str  # hour or day
    first_day: date  # the days the form shows (custom: as asked)
    last_day: date
    problem: str = ""  # why what was asked could not be used (then: the default period)

    @property
    def label(self) -> str:
        if self.key == "custom":
            return f"{self.first_day.isoformat()} to {self.last_day.isoformat()} (UTC)"
        return LABELS[self.key]

    def as_query(self) -> dict[str, str]:
        """The query parameters that ask for this period again (links that keep it)."""
        if self.key == "custom":
            return {"period": "custom", "from": self.first_day.isoformat(), "to": self.last_day.isoformat()}
        return {"period": self.key}


def _validated_window(start: datetime, end: datetime) -> tuple[Window, str]:
    # The API's own checks (reach, order, granularity).
    serializer = OverviewQuery(data={"startDate": iso(start), "endDate": iso(end)})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["window"], serializer.validated_data["granularity"]


def _problem(error: ValidationError) -> str:
    detail: Any = error.detail
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {' '.join(str(item) for item in value)}" for key, value in detail.items())
    return str(detail)


def period_from(params: dict[str, str], now: datetime | None = None) -> Period:
    """The period the query parameters ask for (`period`, and `from`/`to` days for custom), or the default
    period with the reason when they ask for one that cannot be."""
    now = now or timezone.now()
    key = params.get("period") or DEFAULT
    if key == "custom":
        try:
            first = date.fromisoformat(params.get("from", ""))
            last = date.fromisoformat(params.get("to", ""))
        except ValueError:
            return _last(DEFAULT, now, problem="custom days need a first and a last day (YYYY-MM-DD)")
        if first > last:
            return _last(DEFAULT, now, problem="the first day must not be after the last")
        if (last - first).days >= LONGEST_DAYS:
            return _last(DEFAULT, now, problem=f"custom periods span at most {LONGEST_DAYS} days")
        if last > (now + AHEAD).date():
            return _last(DEFAULT, now, problem="the last day must not be after tomorrow")
        start = datetime.combine(first, time(), tzinfo=UTC)
        try:
            window, granularity = _validated_window(start, datetime.combine(last, time(), tzinfo=UTC) + DAY)
        except ValidationError as error:
            return _last(DEFAULT, now, problem=_problem(error))
        return Period("custom", window, granularity, first, last)
    if key not in LAST:
        return _last(DEFAULT, now, problem=f"unknown period {key[:20]!r}: 24h, 7d, 30d or custom")
    return _last(key, now)


def _last(key: str, now: datetime, problem: str = "") -> Period:
    # From the start of that hour, as the API's default windows (analytics.api.serializers.WindowQuery).
    window, granularity = _validated_window(floor_hour(now - LAST[key]), now)
    assert window.start is not None
    return Period(key, window, granularity, window.start.date(), now.date(), problem)
