"""Rate limits as settings write them (DRF's form), read once when the settings load."""

from __future__ import annotations

# (requests, seconds)
Rate = tuple[int, int]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> Rate | None:
    """ "100/s", "1200/m", "5000/h" or "10000/d" as (requests, seconds); "off" (or empty): no limit."""
    if rate is None or rate.strip().lower() in ("", "off", "none"):
        return None
    count, _, period = rate.strip().partition("/")
    if not count.isdigit() or int(count) < 1 or period not in ("s", "m", "h", "d", "sec", "min", "hour", "day"):
        raise ValueError(f"{rate!r} is not a rate such as 100/s, 1200/m, 5000/h, 10000/d or off")
    return int(count), _UNITS[period[0]]
