"""The daily error tallies agree with the hourly ones, whether the roll-up wrote them or the migration that
introduced them summed the hours already rolled up."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps

from analytics.models import DailyErrors, HourlyErrors
from lifecycle.testing.executions import random_reports, store

backfill = importlib.import_module("analytics.migrations.0002_daily_errors").sum_hours_into_days


def _by_day(model, column):
    """(day, version, environment, type) -> (occurrences, first seen, last seen), summed in Python."""
    found = {}
    for row in model.objects.all():
        key = (getattr(row, column).date(), row.version_id, row.environment, row.error_type)
        count, first, last = found.get(key, (0, row.first_seen, row.last_seen))
        found[key] = (count + row.occurrences, min(first, row.first_seen), max(last, row.last_seen))
    return found


@pytest.mark.django_db
def test_daily_errors__rolled_up_or_backfilled__equal_the_sum_of_their_hours(create_template, now):
    version = create_template().latest_version
    store(random_reports([version], 600, start=now - timedelta(days=4), end=now - timedelta(seconds=1)))
    hours = _by_day(HourlyErrors, "hour")
    assert hours, "the random reports hold errors"
    assert _by_day(DailyErrors, "day") == hours

    DailyErrors.objects.all().delete()
    backfill(apps, None)

    assert _by_day(DailyErrors, "day") == hours
    samples = [day.samples for day in DailyErrors.objects.all()]
    assert all(len(kept) <= 3 for kept in samples)
    assert any(samples)
