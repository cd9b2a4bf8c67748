"""The beat's work on A/B tests: thin tasks over the services."""

from __future__ import annotations

from celery import shared_task

from abtesting.services import stop_clear_tests, stop_ended_tests


@shared_task(name="abtesting.stop_ended_tests")
def stop_ended_tests_task() -> int:
    """Complete the tests whose end date has come, and the auto-stopping ones whose winner is clear; how
    many."""
    return len(stop_ended_tests()) + len(stop_clear_tests())
