"""Which variant of an A/B test a subject sees: a deterministic hash of (test, subject) into buckets that follow
the variants' traffic percentages (research A1 and 6.1).

This is GrowthBook's scheme, ported so that its shared SDK test vectors check it: FNV-1a (32 bit) over UTF-16
code units, the "version 2" hash `fnv1a32(str(fnv1a32(seed + value))) % 10000 / 10000`, and bucket ranges laid
end to end from the weights. The seed is the test's id, so a subject's buckets in two tests are independent,
and the answer depends on nothing but the arguments, so it is sticky across calls, processes and restarts.

Pure computation, no I/O: it runs on every render of a template under test.

Where we differ from GrowthBook on purpose: it silently falls back to equal weights when the weights do not
sum to 1 and clamps a coverage outside [0, 1]; we raise ValueError instead, because a test whose configuration
is wrong should be refused when it is created, not served with a split nobody asked for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# A subject id is whatever the integration sends (a user id, a session id); bounded so that a caller cannot make
# every render hash a megabyte. The API layer refuses longer ids with a 400 before they get here.
MAX_SUBJECT_ID_LENGTH = 256

# Percentages come from JSON numbers, so 33.3 + 33.3 + 33.4 need not be exactly 100.0 in floating point.
PERCENTAGE_SUM_TOLERANCE = 1e-9

_FNV_OFFSET_BASIS = 0x811C9DC5
_FNV_PRIME = 0x01000193
_UINT32 = 0xFFFFFFFF


def fnv1a32(text: str) -> int:
    """The 32-bit FNV-1a hash of `text`'s UTF-16 code units, as JavaScript's charCodeAt sees them (GrowthBook's
    SDKs hash that way, and its test vectors assume it)."""
    hash_value = _FNV_OFFSET_BASIS
    for character in text:
        code_point = ord(character)
        if code_point > 0xFFFF:  # outside the BMP: JavaScript sees a surrogate pair, so hash both halves
            code_point -= 0x10000
            for code_unit in (0xD800 | (code_point >> 10), 0xDC00 | (code_point & 0x3FF)):
                hash_value = ((hash_value ^ code_unit) * _FNV_PRIME) & _UINT32
        else:
            hash_value = ((hash_value ^ code_point) * _FNV_PRIME) & _UINT32
    return hash_value


def growthbook_hash(seed: str, value: str, version: int) -> float | None:
    """GrowthBook's hash of `value` under `seed`, in [0, 1): version 2 (what we assign with), version 1 (the
    legacy one, kept so that every published test vector checks the FNV core), None for any other version."""
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        # Biased across parallel experiments (seed after value): never use it for assignment.
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def validate_subject_id(subject_id: object) -> str:
    """`subject_id` itself, if it is a non-empty string of at most MAX_SUBJECT_ID_LENGTH characters; else
    ValueError saying what is wrong."""
    if not isinstance(subject_id, str):
        raise ValueError(f"A subject id must be a string, not {type(subject_id).__name__}.")
    if not subject_id:
        raise ValueError("A subject id must not be empty.")
    if len(subject_id) > MAX_SUBJECT_ID_LENGTH:
        raise ValueError(
            f"A subject id must be at most {MAX_SUBJECT_ID_LENGTH} characters long (this one has {len(subject_id)})."
        )
    return subject_id


def hash_subject(seed: str, subject_id: str) -> float:
    """The subject's position in [0, 1) for the test whose seed (its id) is `seed`: GrowthBook's version 2
    hash, four decimal places of resolution."""
    if not isinstance(seed, str) or not seed:
        # An empty seed would put every test's subjects in the same buckets: tests would not be independent.
        raise ValueError("A test seed must be a non-empty string (the test's id).")
    position = growthbook_hash(seed, validate_subject_id(subject_id), 2)
    assert position is not None  # version 2 always hashes
    return position


def validate_percentages(percentages: Sequence[float]) -> list[float]:
    """The traffic percentages as floats, if there is at least one, each is finite and at least 0, and they sum
    to 100 (within PERCENTAGE_SUM_TOLERANCE); else ValueError saying what is wrong."""
    if isinstance(percentages, str | bytes) or not isinstance(percentages, Sequence):
        raise ValueError("Traffic percentages must be a list of numbers.")
    if not percentages:
        raise ValueError("Traffic percentages must name at least one variant.")
    values = []
    for index, percentage in enumerate(percentages):
        if isinstance(percentage, bool) or not isinstance(percentage, int | float) or not math.isfinite(percentage):
            raise ValueError(f"Traffic percentage {index} must be a finite number, not {percentage!r}.")
        if percentage < 0:
            raise ValueError(f"Traffic percentage {index} must not be negative ({percentage}).")
        values.append(float(percentage))
    total = math.fsum(values)
    if abs(total - 100.0) > PERCENTAGE_SUM_TOLERANCE:
        raise ValueError(f"Traffic percentages must sum to 100 (these sum to {total:g}).")
    return values


def bucket_ranges(percentages: Sequence[float], coverage: float = 1.0) -> list[tuple[float, float]]:
    """The half-open range [start, end) of [0, 1) that sends a subject to each variant, in order: variant i
    starts where the previous variant's full share ended and takes `coverage` of its own share (GrowthBook's
    getBucketRanges). With coverage 1 the ranges tile [0, 1); below 1, the gaps are subjects outside the test."""
    if isinstance(coverage, bool) or not isinstance(coverage, int | float) or not 0.0 <= coverage <= 1.0:
        raise ValueError(f"Coverage must be a number between 0 and 1, not {coverage!r}.")
    ranges = []
    start = 0.0
    for percentage in validate_percentages(percentages):
        share = percentage / 100.0
        ranges.append((start, start + coverage * share))
        start += share
    return ranges


def variant_in_ranges(position: float, ranges: Sequence[tuple[float, float]]) -> int | None:
    """The index of the first range holding `position` (start ≤ position < end), or None if none does (the
    subject is outside the test's coverage). An empty range (a 0 % variant) holds nobody."""
    for index, (start, end) in enumerate(ranges):
        if start <= position < end:
            return index
    return None


def choose_variant(test_seed: str, subject_id: str, percentages: Sequence[float], coverage: float = 1.0) -> int | None:
    """The index (into `percentages`) of the variant the subject sees in the test seeded `test_seed` (its id),
    or None when coverage is below 1 and the subject falls outside it. Same arguments, same answer, always."""
    return variant_in_ranges(hash_subject(test_seed, subject_id), bucket_ranges(percentages, coverage))
