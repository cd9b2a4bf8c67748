"""A time window [start, end), cut into what each source answers for it.

Rollups hold whole hours (and, for latency, whole days); the few minutes at the window's ends that do
not make a whole hour are read from the raw executions. So every answer is exact for the window asked,
while a 30-day window reads ~30 daily rows instead of a million executions. A window ending now reads its
last hour from the rollup too (analytics.selectors.window_to_read): nothing of that hour lies after now.

Every window lies within [EARLIEST, now + AHEAD]: an answer's work then has a bound whatever the query,
and ingestion refuses executions timed before EARLIEST, so every stored execution is in some window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# No LLM integration reported an execution before 2000; a time before it is a mistake (a zero, a unit).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# A window may end a day after now (a client whose clock or zone is off, "until tomorrow"), no further:
# nothing after that has happened yet.
AHEAD = DAY


def iso(moment: datetime) -> str:
    """A moment as the API writes it: ISO 8601 in UTC, with `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floored = floor_hour(moment)
    return floored if floored == moment else floored + HOUR


def floor_day(moment: datetime) -> datetime:
    return floor_hour(moment).replace(hour=0)


def ceil_day(moment: datetime) -> datetime:
    floored = floor_day(moment)
    return floored if floored == moment else floored + DAY


Span = tuple[datetime | None, datetime]  # [start, end); start None: since the beginning


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC; `start` None means since the first execution."""

    start: datetime | None
    end: datetime

    @property
    def whole_hours(self) -> Span | None:
        """The whole hours inside the window (answered by rollups)."""
        first = ceil_hour(self.start) if self.start is not None else None
        last = floor_hour(self.end)
        if first is not None and first >= last:
            return None
        return first, last

    @property
    def raw_spans(self) -> list[tuple[datetime, datetime]]:
        """The parts of the window that are not whole hours (answered by raw executions)."""
        hours = self.whole_hours
        if hours is None:
            assert self.start is not None
            return [(self.start, self.end)] if self.start < self.end else []
        spans: list[tuple[datetime, datetime]] = []
        first_hour = hours[0]
        if self.start is not None and first_hour is not None and self.start < first_hour:
            spans.append((self.start, first_hour))
        if hours[1] < self.end:
            spans.append((hours[1], self.end))
        return spans

    def day_and_hour_spans(self) -> tuple[Span | None, list[Span]]:
        """Within the whole hours: the whole days (daily rollups), and the hours around them (hourly)."""
        hours = self.whole_hours
        if hours is None:
            return None, []
        first_hour, last_hour = hours
        first_day = ceil_day(first_hour) if first_hour is not None else None
        last_day = floor_day(last_hour)
        if first_day is not None and first_day >= last_day:
            return None, [hours]
        spans: list[Span] = []
        if first_hour is not None and first_day is not None and first_hour < first_day:
            spans.append((first_hour, first_day))
        if last_day < last_hour:
            spans.append((last_day, last_hour))
        return (first_day, last_day), spans
