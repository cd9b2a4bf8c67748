"""Assignment of subjects to variants: GrowthBook's published test vectors (research 6.1, and the hash,
getBucketRange and chooseVariation cases of its SDKs' shared cases.json), stickiness, independence between
tests, and the observed split over 100,000 subjects against the configured one."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from promptrender.assignment import (
    MAX_SUBJECT_ID_LENGTH,
    bucket_ranges,
    choose_variant,
    fnv1a32,
    growthbook_hash,
    hash_subject,
    variant_in_ranges,
)
from scipy import stats

# (seed, value, version, hash) from research 6.1, which lists GrowthBook's shared SDK vectors.
GROWTHBOOK_HASH_VECTORS = [
    ("", "a", 1, 0.22),
    ("", "b", 1, 0.077),
    ("b", "a", 1, 0.946),
    ("seed", "a", 2, 0.0505),
    ("seed", "b", 2, 0.2696),
    ("foo", "ab", 2, 0.2575),
    ("foo", "def", 2, 0.2019),
    ("89123klj", "8952klfjas09ujkasdf", 2, 0.124),
    ("90850943850283058242805", "123", 2, 0.7516),
    ("()**(%$##$%#$#", '___)((*":&', 2, 0.0128),
    ("abc", "def", 99, None),
]

# More version 1 vectors from cases.json ("hash": value, hash, version, seed ""); they check the FNV core.
GROWTHBOOK_V1_VECTORS = [
    ("def", 0.652),
    ("8952klfjas09ujkasdf", 0.549),
    ("123", 0.011),
    ('___)((*":&', 0.563),
]

# cases.json "getBucketRange" cases whose weights are valid (sum to 1, one per variant, coverage in [0, 1]),
# with the weights written as percentages. The others test GrowthBook's silent fallbacks, which we refuse.
GROWTHBOOK_BUCKET_RANGE_VECTORS = [
    ([50, 50], 1, [(0, 0.5), (0.5, 1)]),
    ([50, 50], 0.5, [(0, 0.25), (0.5, 0.75)]),
    ([50, 50], 0, [(0, 0), (0.5, 0.5)]),
    ([25, 25, 25, 25], 1, [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)]),
    ([40, 60], 1, [(0, 0.4), (0.4, 1)]),
    ([20, 30, 50], 1, [(0, 0.2), (0.2, 0.5), (0.5, 1)]),
    ([20, 30, 50], 0.2, [(0, 0.04), (0.2, 0.26), (0.5, 0.6)]),
    ([40, 60], 0.5, [(0, 0.2), (0.4, 0.7)]),  # research 6.1
]

# cases.json "chooseVariation": (position, ranges, variant; -1 there is None here).
GROWTHBOOK_CHOOSE_VARIATION_VECTORS = [
    (0.2, [(0, 0.5), (0.5, 1)], 0),
    (0.4, [(0, 0.5), (0.5, 1)], 0),
    (0.6, [(0, 0.5), (0.5, 1)], 1),
    (0.8, [(0, 0.5), (0.5, 1)], 1),
    (0, [(0, 0.5), (0.5, 1)], 0),
    (0.5, [(0, 0.5), (0.5, 1)], 1),
    (0.2, [(0, 0.25), (0.5, 0.75)], 0),
    (0.4, [(0, 0.25), (0.5, 0.75)], None),
    (0.6, [(0, 0.25), (0.5, 0.75)], 1),
    (0.8, [(0, 0.25), (0.5, 0.75)], None),
    (0.25, [(0, 0.25), (0.5, 0.75)], None),
    (0.5, [(0, 0.25), (0.5, 0.75)], 1),
    (0.5, [(0, 0.5), (0.5, 0.5), (0.5, 1)], 2),
]

SUBJECTS = [f"subject-{index}" for index in range(100_000)]


@pytest.mark.parametrize(("seed", "value", "version", "expected"), GROWTHBOOK_HASH_VECTORS)
def test_growthbook_hash__published_vector__matches(seed, value, version, expected):
    assert growthbook_hash(seed, value, version) == expected


@pytest.mark.parametrize(("value", "expected"), GROWTHBOOK_V1_VECTORS)
def test_growthbook_hash__more_version_1_vectors__match(value, expected):
    assert growthbook_hash("", value, 1) == expected


def test_fnv1a32__known_values__match_the_fnv_reference():
    # FNV-1a 32 of "" is the offset basis, of "a" 0xe40c292c (the FNV authors' test suite); these are ASCII,
    # whose UTF-16 code units equal their bytes.
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968


def test_fnv1a32__outside_the_basic_plane__hashes_the_surrogate_pair_as_javascript_does():
    # Given a character outside the BMP, which JavaScript's charCodeAt sees as two code units
    text = "\U0001f600"
    # When hashed, Then it equals FNV-1a written out over the UTF-16 code units
    units = np.frombuffer(text.encode("utf-16-le"), dtype="<u2")
    expected = 0x811C9DC5
    for unit in units:
        expected = ((expected ^ int(unit)) * 16777619) % 2**32
    assert len(units) == 2
    assert fnv1a32(text) == expected


def test_hash_subject__is_the_version_2_hash():
    assert hash_subject("seed", "a") == 0.0505
    assert hash_subject("foo", "def") == 0.2019


@pytest.mark.parametrize(("percentages", "coverage", "expected"), GROWTHBOOK_BUCKET_RANGE_VECTORS)
def test_bucket_ranges__published_vector__matches(percentages, coverage, expected):
    ranges = bucket_ranges(percentages, coverage)
    assert ranges == [pytest.approx(expected_range, abs=1e-12) for expected_range in expected]


@pytest.mark.parametrize(("position", "ranges", "expected"), GROWTHBOOK_CHOOSE_VARIATION_VECTORS)
def test_variant_in_ranges__published_vector__matches(position, ranges, expected):
    assert variant_in_ranges(position, ranges) == expected


def test_choose_variant__100000_subjects__reproduces_the_research_counts():
    # Given the seed and subjects of research 6.1, which lists the counts its port of GrowthBook produced
    # When every subject is assigned, Then the counts are those
    fifty_fifty = Counter(choose_variant("abtest-42", subject, [50, 50]) for subject in SUBJECTS)
    three_way = Counter(choose_variant("abtest-42", subject, [20, 30, 50]) for subject in SUBJECTS)
    assert fifty_fifty == {0: 50147, 1: 49853}
    assert three_way == {0: 19984, 1: 30163, 2: 49853}


@pytest.mark.parametrize("percentages", [[50, 50], [10, 90], [33.3, 33.3, 33.4], [70, 20, 10]])
def test_choose_variant__100000_subjects__split_within_one_point_of_the_configuration(percentages):
    # Given 100,000 subjects and a test
    # When each is assigned
    counts = Counter(choose_variant("c0ffee-test-17", subject, percentages) for subject in SUBJECTS)
    # Then every subject is in some variant, and each variant's share is within 1 percentage point
    assert sum(counts.values()) == len(SUBJECTS)
    assert None not in counts
    for index, percentage in enumerate(percentages):
        observed_percentage = 100 * counts[index] / len(SUBJECTS)
        assert abs(observed_percentage - percentage) < 1.0, (index, observed_percentage)
    # And the counts are what chance allows (no sample ratio mismatch, scipy's goodness of fit)
    expected = [len(SUBJECTS) * percentage / 100 for percentage in percentages]
    assert stats.chisquare([counts[index] for index in range(len(percentages))], expected).pvalue > 0.001


def test_choose_variant__same_subject_again__same_variant():
    # Given assignments made once
    first = [choose_variant("test-1", subject, [33.3, 33.3, 33.4]) for subject in SUBJECTS[:2000]]
    # When made again, Then nothing moved
    assert [choose_variant("test-1", subject, [33.3, 33.3, 33.4]) for subject in SUBJECTS[:2000]] == first


def test_choose_variant__in_another_process_with_another_hash_seed__same_variant():
    # Given assignments in this process
    subjects = SUBJECTS[:500]
    here = [choose_variant("test-1", subject, [50, 50]) for subject in subjects]
    # When a fresh interpreter, with a different PYTHONHASHSEED, assigns the same subjects (as after a restart)
    program = (
        "from promptrender.assignment import choose_variant\n"
        "print(','.join(str(choose_variant('test-1', f'subject-{i}', [50, 50])) for i in range(500)))"
    )
    output = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PYTHONPATH": "."},
    ).stdout
    # Then it gives the same answers
    assert [int(variant) for variant in output.strip().split(",")] == here


def test_choose_variant__two_tests__assignments_nearly_uncorrelated():
    # Given two tests, 50/50 each, and 100,000 subjects
    first = np.array([choose_variant("test-1", subject, [50, 50]) for subject in SUBJECTS])
    second = np.array([choose_variant("test-2", subject, [50, 50]) for subject in SUBJECTS])
    # When we cross the two assignments
    table = np.array([[np.sum((first == a) & (second == b)) for b in (0, 1)] for a in (0, 1)])
    # Then being in a test's variant says nothing about the other: correlation within noise (its standard
    # error is 1/sqrt(n) = 0.003), and the chi-square test of independence does not reject it
    correlation = np.corrcoef(first, second)[0, 1]
    assert abs(correlation) < 0.015
    assert stats.chi2_contingency(table, correction=False).pvalue > 0.001
    # And each quarter holds about a quarter of the subjects
    assert np.all(np.abs(table / len(SUBJECTS) - 0.25) < 0.01)


def test_choose_variant__coverage_below_one__leaves_the_rest_out():
    # Given a test that covers 40 % of subjects, split 50/50
    counts = Counter(choose_variant("test-1", subject, [50, 50], coverage=0.4) for subject in SUBJECTS[:20_000])
    # Then about 60 % are outside (None) and 20 % in each variant
    assert abs(counts[None] / 20_000 - 0.6) < 0.02
    assert abs(counts[0] / 20_000 - 0.2) < 0.02
    assert abs(counts[1] / 20_000 - 0.2) < 0.02


def test_choose_variant__zero_percent_variant__gets_nobody():
    counts = Counter(choose_variant("test-1", subject, [50, 0, 50]) for subject in SUBJECTS[:5000])
    assert counts[1] == 0
    assert counts[0] + counts[2] == 5000


def test_choose_variant__longest_allowed_subject_id__accepted():
    assert choose_variant("test-1", "x" * MAX_SUBJECT_ID_LENGTH, [50, 50]) in (0, 1)


@pytest.mark.parametrize(
    ("subject_id", "message"),
    [
        ("", "must not be empty"),
        ("x" * (MAX_SUBJECT_ID_LENGTH + 1), f"at most {MAX_SUBJECT_ID_LENGTH} characters"),
        (None, "must be a string"),
        (42, "must be a string"),
    ],
)
def test_choose_variant__bad_subject_id__value_error_saying_why(subject_id, message):
    with pytest.raises(ValueError, match=message):
        choose_variant("test-1", subject_id, [50, 50])


@pytest.mark.parametrize(
    ("percentages", "message"),
    [
        ([50, 49], "sum to 100"),
        ([70, 60], "sum to 100"),
        ([40, 59.99], "sum to 100"),  # GrowthBook accepts 0.99..1.01; we do not
        ([100 + 1e-8], "sum to 100"),
        ([], "at least one"),
        ([110, -10], "must not be negative"),
        ([50, float("nan")], "finite number"),
        ([50, float("inf")], "finite number"),
        ([50, "50"], "finite number"),
        ([True, 99], "finite number"),
        ("50,50", "list of numbers"),
    ],
)
def test_choose_variant__bad_percentages__value_error_saying_why(percentages, message):
    with pytest.raises(ValueError, match=message):
        choose_variant("test-1", "subject-1", percentages)


def test_bucket_ranges__sum_within_tolerance__accepted():
    # 33.3 + 33.3 + 33.4 is 100.00000000000001 in floating point, and 1e-10 off is JSON rounding
    assert len(bucket_ranges([33.3, 33.3, 33.4])) == 3
    assert len(bucket_ranges([50, 50 + 1e-10])) == 2


@pytest.mark.parametrize("coverage", [-0.2, 1.5, float("nan")])
def test_bucket_ranges__coverage_outside_zero_to_one__value_error(coverage):
    with pytest.raises(ValueError, match="Coverage"):
        bucket_ranges([50, 50], coverage)


@pytest.mark.parametrize("seed", ["", None])
def test_hash_subject__no_seed__value_error(seed):
    with pytest.raises(ValueError, match="seed"):
        hash_subject(seed, "subject-1")
