"""Reads of A/B tests: one test, lists, the test running for a template, and their audit trail."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import Prefetch, QuerySet

from abtesting.exceptions import ABTestNotFound
from abtesting.models import ABTest, Variant
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
