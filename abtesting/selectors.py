"""Reads of A/B tests: one test, lists, the test running for a template, their audit trail, and the numbers
of their variants (what results are computed from)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
from django.db.models import Prefetch, QuerySet

from abtesting.exceptions import ABTestNotFound
from abtesting.models import ABTest, Variant
from analytics import histogram
from analytics.models import VariantSubjectCount
from analytics.selectors import Totals, latency_histograms, raw_rows, stat_totals, tagged_numbers
from analytics.windows import Window
from lifecycle.core.audit import AuditEntry, entries_from_history


def abtests_for_listing() -> QuerySet[ABTest]:
    """Tests with everything their JSON shows, in a fixed number of queries however many there are."""
    return ABTest.objects.select_related("template", "created_by", "stopped_by").prefetch_related(
        Prefetch("variants", queryset=Variant.objects.select_related("template_version").order_by("position"))
    )


def abtests_matching(*, template_id: UUID | None = None, state: str | None = None) -> QuerySet[ABTest]:
    """Newest first; only those of `template_id` and in `state` when given."""
    tests = abtests_for_listing()
    if template_id is not None:
        tests = tests.filter(template_id=template_id)
    if state is not None:
        tests = tests.filter(state=state)
    return tests.order_by("-created_at", "-id")


def abtest_by_id(test_id: UUID) -> ABTest:
    test = abtests_for_listing().filter(pk=test_id).first()
    if test is None:
        raise ABTestNotFound()
    return test


def running_test(template_id: UUID, environment: str, *, other_than: UUID | None = None) -> ABTest | None:
    """The test that runs for the template in the environment, if any."""
    running = ABTest.objects.filter(template_id=template_id, environment=environment, state=ABTest.State.RUNNING)
    if other_than is not None:
        running = running.exclude(pk=other_than)
    return running.first()


def audit_entries_for_template(template_id: UUID) -> list[AuditEntry]:
    """Every change of the template's A/B tests and their variants, oldest first."""

    def describe_test(record: Any, action: str) -> str:
        if action == "created":
            return f"A/B test '{record.name}' created in {record.environment}"
        return f"A/B test '{record.name}' in {record.environment}: {record.state}"

    def describe_variant(record: Any, action: str) -> str:
        return f"variant {record.key} ({record.traffic_percentage} %) {action}"

    tests = ABTest.history.filter(template_id=template_id).select_related("history_user").order_by("history_id")
    variants = (
        Variant.history.filter(test__template_id=template_id).select_related("history_user").order_by("history_id")
    )
    return [
        *entries_from_history(tests, subject="abtest", describe=describe_test),
        *entries_from_history(variants, subject="abtest variant", describe=describe_variant),
    ]


def running_spans(test: ABTest, *, now: datetime) -> list[Window]:
    """The spans the test ran in, oldest first: from its start to its first pause, from each resume to the
    next pause, and to its end (or `now` while it runs). A paused test serves its control to everyone, so
    executions of a paused span are not the test's. Read from the test's history (each transition is a
    record); empty for a test that never started."""
    if test.started_at is None:
        return []
    spans: list[Window] = []
    opened: datetime | None = None
    records = test.history.order_by("history_date", "history_id").values_list(  # type: ignore[attr-defined]
        "state", "history_date", "paused_at", "stopped_at"
    )
    for state, recorded_at, paused_at, stopped_at in records:
        if state == ABTest.State.RUNNING and opened is None:
            # The first start is stamped by the transition itself; a resume only by its history record.
            opened = test.started_at if not spans else recorded_at
        elif state != ABTest.State.RUNNING and opened is not None:
            closed = paused_at or stopped_at or recorded_at
            if closed > opened:
                spans.append(Window(opened, closed))
            opened = None
    if opened is not None and now > opened:
        spans.append(Window(opened, now))
    return spans


@dataclass(frozen=True)
class VariantNumbers:
    """What the executions of one variant add up to over its test's running spans."""

    totals: Totals
    latencies: np.ndarray  # analytics.histogram counts of its response times
    subjects: int  # distinct subjects seen in the executions reported with its variantId (VariantSubjectCount)


def variant_numbers(test: ABTest, *, now: datetime) -> dict[str, VariantNumbers]:
    """Per variant (by its id, the README's `variantId`), the sums of its executions in the test's environment
    and running spans, exact at every moment: the analytics rollups for whole hours, raw rows for the spans'
    edges and for batches not rolled up yet (analytics.selectors).

    An execution counts for a variant by its `variantId` (reported with this test's `abTestId`), else, when
    it names no variant, by its version (API.md): a variant's numbers are its tagged executions plus the
    untagged ones of its version, which are the version's sums less those of its executions that name any
    test's variant (analytics.selectors.tagged_numbers). When two variants share a version (an A/A test),
    its untagged executions belong to neither: only their variantId tells them apart.

    Subjects (for the sample ratio check) are those analytics noted at ingestion for executions reported
    with the test's id and a variant's id (analytics.models.VariantSubject), read from their counts
    (VariantSubjectCount): a row per variant, whatever the number of executions or subjects. They are not
    bounded by the running spans: an execution names the test only when render served it a variant, which
    a paused or ended test does not."""
    variants = list(test.variants.all())
    version_ids = sorted({variant.template_version_id for variant in variants}, key=str)
    sharing = Counter(variant.template_version_id for variant in variants)
    scope = {"version_id__in": version_ids, "environment": test.environment}
    totals: dict[str, Totals] = {variant.key: Totals() for variant in variants}
    latencies: dict[str, np.ndarray] = {variant.key: histogram.empty() for variant in variants}
    for window in running_spans(test, now=now):
        raw = raw_rows(scope, window)  # listed once for both (the pending batches' ids are read once)
        by_version = {key[0]: summed for key, summed in stat_totals(scope, window, by=("version_id",), raw=raw).items()}
        version_latencies = {
            key[0]: counts for key, counts in latency_histograms(scope, window, by_version=True, raw=raw).items()
        }
        tagged = tagged_numbers(window, test_id=test.pk, version_ids=version_ids, environment=test.environment)
        for variant in variants:
            own = tagged.of_test.get(variant.key)
            if own is not None:
                totals[variant.key].sums += own.sums
            if variant.key in tagged.of_test_latencies:
                latencies[variant.key] += tagged.of_test_latencies[variant.key]
            version_id = variant.template_version_id
            if sharing[version_id] > 1:
                continue
            if version_id in by_version:
                untagged = by_version[version_id].sums - tagged.of_versions.get(version_id, Totals()).sums
                totals[variant.key].sums += untagged
            if version_id in version_latencies:
                counts = version_latencies[version_id] - tagged.of_versions_latencies.get(version_id, 0)
                latencies[variant.key] += counts
    counted = VariantSubjectCount.objects.filter(ab_test_id=test.pk, variant_id__in=list(totals))
    subjects = dict(counted.values_list("variant_id", "subjects"))
    return {
        variant.key: VariantNumbers(totals[variant.key], latencies[variant.key], subjects.get(variant.key, 0))
        for variant in variants
    }
