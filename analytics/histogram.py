"""Mergeable latency histograms whose percentiles are within 1% of the exact value.

Buckets grow geometrically (by gamma = 1.01 / 0.99), so every value in bucket i lies within 1% of the
bucket's representative value: any percentile read from the histogram is within 1% of the exact one
(the same idea as DDSketch). Two histograms merge by adding their counts, so hourly and daily rollups
add up to any window. A histogram is stored as a small blob: the first used bucket, then the counts
up to the last used one (little-endian unsigned 32-bit integers).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable

import numpy as np

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
# Below this many milliseconds a value counts as this many (bucket 0): nobody tells 10 µs from 0 apart.
SMALLEST_MS = 0.01
# Validation caps a response time at an hour; a generous margin over that.
BUCKETS = math.ceil(math.log(10 * 3_600_000 / SMALLEST_MS) / _LOG_GAMMA) + 2
_HEADER = struct.Struct("<H")
_REPRESENTATIVE = np.array([0.0] + [SMALLEST_MS * 2 * GAMMA**i / (GAMMA + 1) for i in range(1, BUCKETS)])


def bucket_of(value_ms: float) -> int:
    if value_ms <= SMALLEST_MS:
        return 0
    return min(BUCKETS - 1, max(1, math.ceil(math.log(value_ms / SMALLEST_MS) / _LOG_GAMMA)))


def empty() -> np.ndarray:
    return np.zeros(BUCKETS, dtype=np.int64)


def of_values(values_ms: Iterable[float]) -> np.ndarray:
    """The histogram of some response times."""
    counts = empty()
    values = np.fromiter(values_ms, dtype=np.float64)
    if values.size:
        indexes = np.ceil(np.log(np.maximum(values, SMALLEST_MS) / SMALLEST_MS) / _LOG_GAMMA).astype(np.int64)
        indexes = np.clip(indexes, 0, BUCKETS - 1)
        indexes[values <= SMALLEST_MS] = 0
        np.add.at(counts, indexes, 1)
    return counts


def encode(counts: np.ndarray) -> bytes:
    used = np.flatnonzero(counts)
    if used.size == 0:
        return _HEADER.pack(0)
    first, last = int(used[0]), int(used[-1])
    return _HEADER.pack(first) + counts[first : last + 1].astype("<u4").tobytes()


def decode(blob: bytes | memoryview | None) -> np.ndarray:
    counts = empty()
    if blob:
        data = bytes(blob)
        (first,) = _HEADER.unpack_from(data)
        values = np.frombuffer(data, dtype="<u4", offset=_HEADER.size)
        counts[first : first + values.size] = values
    return counts


def add_encoded(counts: np.ndarray, blob: bytes | memoryview | None) -> None:
    """Add a stored histogram into `counts`, without building a full array for it."""
    if blob:
        data = bytes(blob)
        (first,) = _HEADER.unpack_from(data)
        values = np.frombuffer(data, dtype="<u4", offset=_HEADER.size)
        counts[first : first + values.size] += values


def percentile(counts: np.ndarray, percent: float) -> float | None:
    """The nearest-rank percentile (the smallest value with at least `percent`% of values at or below it),
    within 1% of the exact one; None for an empty histogram."""
    total = int(counts.sum())
    if total == 0:
        return None
    return at_rank(counts, max(1, math.ceil(percent / 100 * total)))


def at_rank(counts: np.ndarray, rank: int) -> float | None:
    """The `rank`-th smallest value (from 1), within 1%; None beyond the histogram's count or below 1."""
    if not 1 <= rank <= int(counts.sum()):
        return None
    index = int(np.searchsorted(np.cumsum(counts), rank))
    return round(float(_REPRESENTATIVE[index]), 3)
